"""The offer a certificate is ordered under on the ANS platform (SERV SSL is not « ORG »)."""

from __future__ import annotations

from certificates.models import Profile

ORG = "ORG"
SERV_SSL = "SERV SSL"


def ans_offer(profile: str) -> str:
    """The offer chosen on the ANS platform: SERV SSL is its own offer, the rest is « ORG »."""
    return SERV_SSL if profile == Profile.SERV_SSL else ORG
