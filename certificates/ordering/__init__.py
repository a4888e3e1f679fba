"""Ordering certificates: the requests an officine's certificates are made from.

A certificate request (`CertificateRequest`, the `request=` argument of these services) is
checked against the ANS naming rules (`naming`), gets its key from an uploaded CSR
(`csr`), from the portal (`keygen`, server mode) or from the ANS platform, and moves through
its lifecycle by the write services (`services`) until an imported certificate answers it.

Convention: code outside this package imports the public names below from the package
(`from certificates.ordering import request_create`); the modules inside import from one
another. Private helpers (and what tests patch) stay reached through their own module.
"""

from certificates.ordering.csr import MAX_CSR_SIZE, validate_csr
from certificates.ordering.keygen import PROGRESS_STARTED, csr_generate
from certificates.ordering.naming import (
    COMMON_NAME_MAX_LENGTH,
    PROFILES_FOR_SERVICE,
    expected_subject,
    is_fully_qualified_domain_name,
    profiles_for_service,
    validate_request_naming,
)
from certificates.ordering.services import (
    issuable_statuses,
    renewal_key_mode,
    request_cancel,
    request_create,
    request_create_for_service,
    request_create_renewal,
    request_mark_issued,
    request_mark_submitted,
    request_upload_csr,
)

__all__ = [
    "COMMON_NAME_MAX_LENGTH",
    "MAX_CSR_SIZE",
    "PROFILES_FOR_SERVICE",
    "PROGRESS_STARTED",
    "csr_generate",
    "expected_subject",
    "is_fully_qualified_domain_name",
    "issuable_statuses",
    "profiles_for_service",
    "renewal_key_mode",
    "request_cancel",
    "request_create",
    "request_create_for_service",
    "request_create_renewal",
    "request_mark_issued",
    "request_mark_submitted",
    "request_upload_csr",
    "validate_csr",
    "validate_request_naming",
]
