"""Which officines' alerts reach nobody of their own: a query condition on officines."""

from __future__ import annotations

from django.db import models

from officines.models.access import PharmacistAccess
from officines.models.habilitation import Habilitation, OfficineHabilitation


def without_alert_recipient_condition() -> models.Q:
    """Officines whose alerts reach nobody of their own (issue 14 §6): no technical
    administrator with an e-mail still habilitated for them (the `alert_contacts` rule), no
    officine mailbox, no person to inform, no pharmacist with portal access."""
    revoked = OfficineHabilitation.objects.filter(
        officine_id=models.OuterRef("pk"),
        administrator_id=models.OuterRef("technical_administrator_id"),
        state=Habilitation.REVOKED,
    )
    contact = (
        models.Q(technical_administrator__isnull=False)
        & ~models.Q(technical_administrator__email="")
        & ~models.Q(models.Exists(revoked))
    )
    pharmacists = PharmacistAccess.objects.filter(officine_id=models.OuterRef("pk"))
    return (
        ~contact
        & models.Q(notification_email="", cc_email="")
        & ~models.Q(models.Exists(pharmacists))
    )
