"""iCalendar (RFC 5545) feeds of certificate expiries, written by hand (no dependency).

One all-day VEVENT per live certificate on the local date of its end (`usable_until`: an
ORG SIGN's key stops a month before its notAfter), with two
VALARMs (30 and 7 days before). Text values are escaped (backslash, semicolon, comma,
newline) and content lines are folded at 75 octets with CRLF + space, never inside a
UTF-8 character.

Feeds are reached through a secret URL; only the token's SHA-256 is stored, so the URL is
shown once and an administrator regenerates (or revokes) it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from certificates.models import Certificate
from notifications.links import absolute, certificate_url, user_or_none
from notifications.models import CalendarFeed
from officines.models import Officine
from portal.audit import audit_record
from portal.models import Editor

ALARM_DAYS = (30, 7)
PRODID = "-//Portail certificats officines//Renewal calendar//FR"


# --- RFC 5545 text ---------------------------------------------------------------------


def escape_text(value: str) -> str:
    """TEXT value escaping (RFC 5545 §3.3.11)."""
    return (
        str(value)
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str, limit: int = 75) -> str:
    """Fold one content line: at most `limit` octets per line, continuation lines start with
    a space (which counts in their octets); a multi-byte character is never split."""
    out: list[str] = []
    current, size, budget = [], 0, limit
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > budget:
            out.append("".join(current))
            current, size, budget = [], 0, limit - 1
        current.append(char)
        size += width
    out.append("".join(current))
    return "\r\n ".join(out)


def _date(value: date) -> str:
    return value.strftime("%Y%m%d")


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _lines_of_event(certificate: Certificate, stamp: str, host: str) -> Iterator[str]:
    officine = certificate.officine
    day = timezone.localdate(certificate.usable_until)
    summary = _("Certificate expiry: %(cn)s — %(officine)s") % {
        "cn": certificate.common_name,
        "officine": officine.raison_sociale,
    }
    description = "\n".join(
        [
            _("Officine: %(name)s (FINESS %(finess)s)")
            % {"name": officine.raison_sociale, "finess": officine.finess},
            _("Certificate: %(cn)s, %(profile)s, serial %(serial)s")
            % {
                "cn": certificate.common_name,
                "profile": certificate.get_profile_display(),
                "serial": certificate.serial,
            },
            _("Services: %(services)s") % {"services": ", ".join(certificate.services) or "—"},
            _("Renew it and install the new certificate before this date."),
            certificate_url(certificate.pk),
        ]
    )
    yield "BEGIN:VEVENT"
    yield f"UID:certificate-{certificate.pk}-expiry@{host}"
    yield f"DTSTAMP:{stamp}"
    yield f"DTSTART;VALUE=DATE:{_date(day)}"
    yield f"DTEND;VALUE=DATE:{_date(day + timedelta(days=1))}"
    yield f"SUMMARY:{escape_text(summary)}"
    yield f"DESCRIPTION:{escape_text(description)}"
    yield f"URL:{certificate_url(certificate.pk)}"
    yield "TRANSP:TRANSPARENT"
    for days in ALARM_DAYS:
        yield "BEGIN:VALARM"
        yield "ACTION:DISPLAY"
        yield f"TRIGGER:-P{days}D"
        alarm = _("%(cn)s (%(officine)s) expires in %(days)d days") % {
            "cn": certificate.common_name,
            "officine": officine.raison_sociale,
            "days": days,
        }
        yield f"DESCRIPTION:{escape_text(alarm)}"
        yield "END:VALARM"
    yield "END:VEVENT"


def render_calendar(
    certificates: Iterable[Certificate], *, name: str, now: datetime | None = None
) -> str:
    """The whole VCALENDAR text, CRLF line ends, folded."""
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    stamp = _utc(now or timezone.now())
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
        "REFRESH-INTERVAL;VALUE=DURATION:PT12H",
        "X-PUBLISHED-TTL:PT12H",
    ]
    for certificate in certificates:
        lines.extend(_lines_of_event(certificate, stamp, host))
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


def feed_certificates(feed: CalendarFeed):
    """Live certificates of the feed's editor (or officine), one query."""
    certificates = (
        Certificate.objects.of_editor(feed.editor_id)
        .live()
        .filter(officine__is_active=True)
        .select_related("officine")
        .defer("pem", "chain_pem", "subject_dn", "issuer_dn")
        .order_by("usable_until", "pk")
    )
    if feed.officine_id:
        certificates = certificates.filter(officine_id=feed.officine_id)
    return certificates


def feed_render(feed: CalendarFeed, *, now: datetime | None = None) -> str:
    with translation.override(feed.language or settings.LANGUAGE_CODE):
        if feed.officine_id:
            name = _("Certificates of %(name)s") % {"name": feed.officine.raison_sociale}
        else:
            name = _("Certificates of the officines of %(name)s") % {"name": feed.editor.name}
        return render_calendar(
            feed_certificates(feed).iterator(chunk_size=2000), name=name, now=now
        )


# --- feeds and tokens ------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_url(token: str) -> str:
    return absolute(reverse("notifications:calendar_feed", args=[token]))


def feed_header_url() -> str:
    """The token-less address: the token goes in Authorization (Bearer, or Basic password)."""
    return absolute(reverse("notifications:calendar_feed_authorized"))


def feed_for_token(token: str) -> CalendarFeed | None:
    """The active feed behind a token, or None (unknown, revoked, inactive editor/officine)."""
    if not token or len(token) > 100:
        return None
    feed = (
        CalendarFeed.objects.select_related("editor", "officine")
        .filter(token_hash=_token_hash(token), revoked_at__isnull=True)
        .first()
    )
    if feed is None or not feed.editor.is_active:
        return None
    if feed.officine_id and not feed.officine.is_active:
        return None
    return feed


@transaction.atomic
def feed_create(
    *,
    editor: Editor,
    officine: Officine | None = None,
    language: str = "fr",
    actor: Any = None,
    request: HttpRequest | None = None,
) -> tuple[CalendarFeed, str]:
    """A new secret URL (revoking the previous one of the same scope); the token is returned
    once and never stored."""
    if officine is not None and officine.editor_id != editor.pk:
        raise ValidationError({"officine": _("Unknown officine.")})
    if language not in dict(settings.LANGUAGES):
        raise ValidationError({"language": _("Unknown language.")})
    now = timezone.now()
    previous = CalendarFeed.objects.select_for_update().filter(
        editor=editor, officine=officine, revoked_at__isnull=True
    )
    for old in previous:
        old.revoked_at = now
        old.save(update_fields=["revoked_at"])
    token = secrets.token_urlsafe(32)
    feed = CalendarFeed.objects.create(
        editor=editor,
        officine=officine,
        token_hash=_token_hash(token),
        language=language,
        created_by=user_or_none(actor),
    )
    audit_record(
        action="calendar_feed.create",
        actor=actor,
        editor=editor,
        target=feed,
        request=request,
        details={"officine": officine.pk if officine else None},
    )
    return feed, token


@transaction.atomic
def feed_revoke(
    *, feed: CalendarFeed, actor: Any = None, request: HttpRequest | None = None
) -> None:
    if feed.revoked_at is None:
        feed.revoked_at = timezone.now()
        feed.save(update_fields=["revoked_at"])
        audit_record(action="calendar_feed.revoke", actor=actor, target=feed, request=request)
