"""Tell a Cas 2 officine's pharmacists that a certificate is theirs to renew.

A renewal campaign never renews a certificate of an officine in mode « pharmacien » (it
orders « sans délégation à l'éditeur »): `certificates.campaigns` lists it apart and sends
`certificate.renew_by_officine` through the kernel's `certificate_event`; this module writes
one in-app notice per pharmacist who may act (read-only accesses excluded); an unread
notice for the same certificate is not repeated.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from certificates.models import Certificate
from notifications.links import certificate_url
from notifications.models import Notification
from officines.models import PharmacistAccess

EVENT = "certificate.renew_by_officine"


def renew_by_officine_notify(*, editor_id: int, certificate_id: int, context: dict[str, Any]):
    certificate = (
        Certificate.objects.of_editor(editor_id)
        .select_related("officine")
        .defer("pem", "chain_pem")
        .filter(pk=certificate_id)
        .first()
    )
    if certificate is None:
        return
    url = certificate_url(certificate.pk)
    pharmacists = PharmacistAccess.objects.filter(
        officine_id=certificate.officine_id, read_only=False, user__is_active=True
    ).values_list("user_id", flat=True)
    title = _("Certificate to renew by your officine: %(cn)s (%(name)s)") % {
        "cn": certificate.common_name,
        "name": certificate.officine.raison_sociale,
    }
    already = set(
        Notification.objects.filter(
            certificate=certificate, title=title, read_at__isnull=True, user_id__in=pharmacists
        ).values_list("user_id", flat=True)
    )
    body = _(
        "Your officine orders its certificates without delegation to its editor (mode "
        "« pharmacien », Cas 2): your editor's renewal campaign (%(campaign)s) does not renew "
        "this certificate, valid until %(date)s. Renew it from the portal or your LGO."
    ) % {
        "campaign": context.get("campaign", ""),
        "date": certificate.not_after.date().isoformat(),
    }
    Notification.objects.bulk_create(
        [
            Notification(user_id=user_id, certificate=certificate, title=title, body=body, url=url)
            for user_id in pharmacists
            if user_id not in already
        ]
    )
