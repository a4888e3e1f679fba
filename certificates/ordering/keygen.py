"""Generate a server-mode request's private key and CSR on the portal, once (the task body).

The guide wants the key made "sur le serveur sur lequel le certificat sera installé": in
server mode that server is the portal, which keeps the key encrypted (`keystore`).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from certificates import keystore, x509
from certificates.models import CertificateRequest, KeyMode, RequestStatus
from certificates.ordering.naming import invalid_subject_message, officine_subject
from portal.audit import SYSTEM, audit_record

logger = logging.getLogger(__name__)

# Progress shown while a server-mode request waits for its key.
PROGRESS_QUEUED = 0
PROGRESS_STARTED = 10
PROGRESS_DONE = 100


def csr_generate(*, request_id: int) -> CertificateRequest:
    """Generate key + CSR for a server-mode request, once: safe to run twice or concurrently.

    The row is locked while the key is made, so two workers never make two keys; a
    request that already has a CSR (or is no longer pending) is returned unchanged.
    """
    CertificateRequest.objects.filter(
        pk=request_id, status=RequestStatus.PENDING, key_mode=KeyMode.SERVER, csr_pem=""
    ).update(progress=PROGRESS_STARTED, updated_at=timezone.now())
    with transaction.atomic():
        request = (
            CertificateRequest.objects.select_for_update()
            .select_related("officine")
            .get(pk=request_id)
        )
        if (
            request.csr_pem
            or request.status != RequestStatus.PENDING
            or request.key_mode != KeyMode.SERVER
        ):
            return request
        try:
            subject = officine_subject(request.officine, request.common_name)
            private_key = x509.generate_private_key(
                algorithm=settings.CERTIFICATE_KEY_ALGORITHM,
                key_size=settings.CERTIFICATE_KEY_SIZE,
            )
        except (x509.X509Error, ValueError) as exc:
            # Officine data changed since the request was validated (X509Error, whose text is
            # French only: the user reads the translated message), or bad key settings.
            logger.warning("CSR generation refused for request %s: %s", request_id, exc)
            reason = invalid_subject_message() if isinstance(exc, x509.X509Error) else str(exc)
            message = _("The key could not be generated: %(reason)s") % {"reason": reason}
            request.error = message[:255]
            request.progress = PROGRESS_QUEUED
            request.save(update_fields=["error", "progress", "updated_at"])
            return request
        request.csr_pem = x509.build_csr(private_key=private_key, subject=subject).decode("ascii")
        request.public_key_sha256 = x509.public_key_sha256(private_key.public_key())
        keystore.encrypt_private_key(private_key=private_key, request=request)
        request.status = RequestStatus.CSR_READY
        request.progress = PROGRESS_DONE
        request.error = ""
        request.save(
            update_fields=[
                "csr_pem",
                "public_key_sha256",
                "encrypted_private_key",
                "key_encryption_key_id",
                "status",
                "progress",
                "error",
                "updated_at",
            ]
        )
        audit_record(
            action="key.generate",
            actor=SYSTEM,
            target=request,
            details={"key_id": request.key_encryption_key_id},
        )
    logger.info("CSR generated for request %s", request_id)
    return request
