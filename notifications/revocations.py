"""Tell the LGO and the people of an officine that ANS revoked one of its certificates.

Subscribed to the kernel's `certificate_event` (portal.events) in AppConfig.ready():
webhooks for every certificate event, and for a revocation learnt from IGC Santé (CRL or
OCSP) an in-app notice and an e-mail saying what happened and what to do (order a new one).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.mail import send_mail
from django.db import transaction
from django.utils import formats, translation
from django.utils.translation import gettext as _

from certificates.models import Certificate
from notifications import cas2
from notifications.events import emit
from notifications.links import certificate_url
from notifications.models import Notification, WebhookEndpoint, WebhookEvent
from notifications.recipients import (
    editor_subscribers,
    officine_pharmacists,
    officine_recipients,
)
from portal import outbox
from portal.models import Membership, Role

logger = logging.getLogger(__name__)


def on_certificate_event(
    sender: Any,
    *,
    editor_id: int,
    event: str,
    certificate_id: int,
    context: dict[str, Any],
    **kwargs: Any,
) -> None:

    if event == cas2.EVENT:  # not a webhook event: an in-app notice for the pharmacists
        cas2.renew_by_officine_notify(
            editor_id=editor_id, certificate_id=certificate_id, context=context or {}
        )
        return
    emit(editor_id=editor_id, event=event, certificate_id=certificate_id, extra=context or None)
    if event == "certificate.revoked" and (context or {}).get("revoked_by") == "ans":
        revocation_notice_create(editor_id=editor_id, certificate_id=certificate_id)


def wants_certificate_event(editor_id: int, event: str) -> bool:
    """Whether `on_certificate_event` would act: a webhook-only event (issued, expiring,
    expired) is skipped when no active endpoint of the editor listens to it; a revocation
    may bring notices and other events are not webhooks, so they are always wanted."""
    if event not in WebhookEvent.values or event == WebhookEvent.REVOKED:
        return True
    return (
        WebhookEndpoint.objects.of_editor(editor_id)
        .filter(is_active=True, events__contains=f",{event},")
        .exists()
    )


def _certificate(editor_id: int, certificate_id: int) -> Certificate | None:
    return (
        Certificate.objects.of_editor(editor_id)
        .select_related("officine__technical_administrator")
        .defer("pem", "chain_pem")
        .filter(pk=certificate_id)
        .first()
    )


def _recipients(certificate: Certificate):
    officine = certificate.officine
    found = officine_recipients(officine, officine_pharmacists({officine.pk}).get(officine.pk, []))
    seen = {r.email for r in found}
    return found + [r for r in editor_subscribers(certificate.editor_id) if r.email not in seen]


def notice_text(certificate: Certificate) -> tuple[str, str]:
    """(title, body) in the active language: who revoked it, when, why, what to do."""
    officine = certificate.officine
    title = _("Certificate revoked by ANS: %(cn)s (%(name)s)") % {
        "cn": certificate.common_name,
        "name": officine.raison_sociale,
    }
    body = _(
        "IGC Santé (ANS) revoked the certificate %(cn)s of %(name)s (FINESS %(finess)s) "
        "on %(date)s, reason: %(reason)s; the portal learnt it from %(source)s. "
        "It no longer works for the services it was used for (INSi, DMP...). "
        "Order a new certificate for this officine on the ANS platform and install it, "
        "then remove the revoked one from the software."
    ) % {
        "cn": certificate.common_name,
        "name": officine.raison_sociale,
        "finess": officine.finess,
        "date": formats.date_format(certificate.revoked_at, "DATE_FORMAT"),
        "reason": certificate.get_revocation_reason_display(),
        "source": certificate.get_revocation_source_display(),
    }
    return title, body


def revocation_notice_create(*, editor_id: int, certificate_id: int) -> int:
    """In-app notices for the users among the recipients; the e-mail goes through the outbox."""
    certificate = _certificate(editor_id, certificate_id)
    if certificate is None or certificate.revoked_at is None:
        return 0
    title, body = notice_text(certificate)
    url = certificate_url(certificate.pk)
    users = {r.user_id for r in _recipients(certificate) if r.user_id is not None}
    # The editor's admins and operators see it in the portal too (they order the new one).
    users |= set(
        Membership.objects.filter(
            editor_id=editor_id, role__in=[Role.ADMIN, Role.OPERATOR], user__is_active=True
        ).values_list("user_id", flat=True)
    )
    notices = [
        Notification(user_id=pk, certificate=certificate, title=title[:255], body=body, url=url)
        for pk in sorted(users)
    ]
    with transaction.atomic():
        Notification.objects.bulk_create(notices)
        outbox.enqueue(
            "notifications.tasks.send_revocation_notice",
            editor_id=editor_id,
            certificate_id=certificate_id,
        )
    return len(notices)


def revocation_notice_send(*, editor_id: int, certificate_id: int) -> int:
    """One e-mail per recipient (the officine's people and the editor's subscribers)."""
    certificate = _certificate(editor_id, certificate_id)
    if certificate is None or certificate.revoked_at is None:
        logger.info("revocation notice skipped: certificate %s", certificate_id)
        return 0
    sent = 0
    with translation.override("fr"):
        title, body = notice_text(certificate)
        body = f"{body}\n\n{certificate_url(certificate.pk)}\n"
    for recipient in _recipients(certificate):
        sent += send_mail(title, body, None, [recipient.email])
    return sent
