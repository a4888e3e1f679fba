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
    # `NOT IN` an uncorrelated list: PostgreSQL hashes it once instead of probing the table
    # for every officine (the dashboard counts this over all of an editor's officines).
    with_pharmacists = PharmacistAccess.objects.values("officine_id")
    # The cheap column tests first: SQL stops at the first false one, before the subqueries.
    return (
        models.Q(notification_email="", cc_email="") & ~contact & ~models.Q(pk__in=with_pharmacists)
    )
