"""Events in a certificate's life after issuance: revocation and installations.

Revocation is recorded here after it was done on the ANS platform (the portal does
not talk to ANS); it is final, and a revoked certificate covers no service.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from certificates.models import Certificate, Installation, RevocationReason
from portal.audit import audit_record
from portal.events import certificate_event_send
from portal.permissions import Action, check_may_act

HOST_MAX_LENGTH = 255
# Clocks of LGO workstations drift: accept dates a little in the future.
CLOCK_SKEW = timedelta(minutes=5)
_HOST_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


@transaction.atomic
def certificate_revoke(
    *,
    certificate: Certificate,
    reason: str,
    revoked_at: datetime | None = None,
    actor: Any,
    http_request: HttpRequest | None = None,
) -> Certificate:
    """Record a revocation (final) and announce it to the editor's webhooks.

    Open renewal requests are kept: the officine still needs a certificate.
    """
    check_may_act(actor, certificate)
    if reason not in RevocationReason.values:
        raise ValidationError(
            {"reason": _("Choose one of the ANS revocation reasons.")}, code="invalid_reason"
        )
    now = timezone.now()
    revoked_at = revoked_at or now
    if timezone.is_naive(revoked_at):
        raise ValidationError({"revoked_at": _("The revocation date needs a time zone.")})
    if revoked_at > now + CLOCK_SKEW:
        raise ValidationError(
            {"revoked_at": _("The revocation date cannot be in the future.")}, code="future"
        )
    if revoked_at < certificate.not_before:
        raise ValidationError(
            {"revoked_at": _("The revocation date is before the certificate was issued.")},
            code="before_issue",
        )
    locked = Certificate.objects.select_for_update().get(pk=certificate.pk)
    if locked.revoked_at is not None:
        raise ValidationError(_("This certificate is already revoked."), code="already_revoked")
    locked.revoked_at = revoked_at
    locked.revocation_reason = reason
    locked.revocation_source = "portal"
    locked.save(update_fields=["revoked_at", "revocation_reason", "revocation_source"])
    certificate.revoked_at, certificate.revocation_reason = revoked_at, reason
    audit_record(
        action="certificate.revoke",
        actor=actor,
        target=locked,
        request=http_request,
        reason=str(RevocationReason(reason).label),
        details={"reason": reason, "revoked_at": revoked_at.isoformat()},
    )
    # Inside the transaction on purpose: the webhook deliveries are written with the
    # revocation and sent (through the outbox) only once it is committed.
    certificate_event_send(
        editor_id=locked.editor_id, event="certificate.revoked", certificate_id=locked.pk
    )
    return certificate


def validate_host(value: str) -> str:
    """A host name (RFC 1123 labels) or an IPv4/IPv6 address, normalised to lower case."""
    host = (value or "").strip()
    if not host:
        raise ValidationError({"host": _("Give the host name or IP address.")}, code="required")
    if len(host) > HOST_MAX_LENGTH:
        raise ValidationError(
            {"host": _("The host may not exceed %(max)d characters.")},
            code="too_long",
            params={"max": HOST_MAX_LENGTH},
        )
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    name = host.rstrip(".")
    labels = name.split(".")
    if not name or not all(_HOST_LABEL_RE.match(label) for label in labels) or name.isdigit():
        raise ValidationError(
            {"host": _("Enter a valid host name or IP address.")}, code="invalid_host"
        )
    return name.lower()


@transaction.atomic
def installation_report(
    *,
    certificate: Certificate,
    host: str,
    installed_at: datetime | None = None,
    reported_by: str = "",
    actor: Any = None,
    http_request: HttpRequest | None = None,
) -> Installation:
    """Record (or refresh) that the certificate is installed on `host`: one row per host."""
    check_may_act(actor, certificate, Action.RECORD)
    host = validate_host(host)
    now = timezone.now()
    installed_at = installed_at or now
    if timezone.is_naive(installed_at):
        raise ValidationError({"installed_at": _("The installation date needs a time zone.")})
    if installed_at > now + CLOCK_SKEW:
        raise ValidationError(
            {"installed_at": _("The installation date cannot be in the future.")}, code="future"
        )
    reported_by = (reported_by or "").strip()
    if len(reported_by) > 200:
        raise ValidationError(
            {"reported_by": _("This field may not exceed %(max)d characters.")},
            code="too_long",
            params={"max": 200},
        )
    installation, created = Installation.objects.update_or_create(
        certificate=certificate,
        host=host,
        defaults={"installed_at": installed_at, "reported_by": reported_by},
    )
    audit_record(
        action="certificate.install",
        actor=actor,
        editor=certificate.editor_id,
        target=certificate,
        request=http_request,
        details={"host": host, "created": created, "installed_at": installed_at.isoformat()},
    )
    return installation
