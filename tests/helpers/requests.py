"""Certificate requests in tests: one created for an officine."""

from __future__ import annotations

from certificates.models import (
    CertificateRequest,
    KeyMode,
    Profile,
    Service,
)
from certificates.ordering import (
    request_create,
)


def create(officine, **overrides) -> CertificateRequest:
    arguments = {
        "officine": officine,
        "profile": Profile.ORG_AUTH_CLI,
        "services": [Service.PSC],
        "common_name": "LGO",
        "key_mode": KeyMode.SERVER,
        "requester_email": REQUESTER,
        "enqueue": False,
        **overrides,
    }
    return request_create(**arguments)


REQUESTER = "admin-tech@lgo.example"
