"""Send one digest e-mail per recipient: claim, render, send, mark — safe under at-least-once.

The send is two-phase, because SMTP has no transaction we could join:

1. Record (the scan, one transaction): the `AlertLog` rows are inserted "pending" and
   attached to an `AlertDigest`; the unique constraint on the rows forbids a second alert.
2. Claim: `UPDATE digest SET claimed_at=now, claimed_by=worker WHERE status='pending' AND
   (claimed_at IS NULL OR claimed_at < now - ALERT_CLAIM_TIMEOUT)`. Exactly one worker wins;
   a second delivery of the same task, or a concurrent one, sees 0 rows and stops.
3. Send, with `Message-ID: <alert-digest.<digest key>@host>` — the digest's idempotency key.
4. Mark the digest and its rows "sent" in one transaction (and write the in-app copy).

Digests go in batches of DIGEST_BATCH: one claim UPDATE and one SELECT of the alerts per
batch, one SMTP connection, then steps 3-4 per digest, so a crash can at most repeat the
one digest between its send and its mark. On PostgreSQL step 4 is one statement (the
digest and its alerts), committed without waiting for the WAL flush (`relaxed_session`).

What a crash does:

* before 2 or between 2 and 3: the claim expires after ALERT_CLAIM_TIMEOUT (longer than the
  Celery hard time limit, so a live worker is never overtaken); the task is redelivered
  (acks_late + reject_on_worker_lost) or the next scan re-enqueues every pending digest.
  Nothing is lost.
* between 3 and 4 (mail handed to the SMTP server, mark not committed): the digest is sent
  again after the timeout, with the *same* Message-ID, so mail servers and clients that
  de-duplicate on Message-ID drop it. This window — short, once per digest, only on
  a crash — is the one place a duplicate can reach a mailbox; we accept it rather than the
  alternative (marking before sending), which would lose the alert on the same crash.
  A renewal alert lost is worse than one read twice.

An SMTP error releases the claim and re-raises: Celery retries with backoff, and the next
daily scan re-enqueues whatever is still pending.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.header import Header
from functools import lru_cache
from typing import Any, NamedTuple

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from certificates.models import Certificate, Installation
from notifications.links import certificate_path, certificate_url
from notifications.models import AlertDigest, AlertKind, AlertLog, AlertStatus, Notification

logger = logging.getLogger(__name__)

NOTIFICATION_BODY_LINES = 20
DIGEST_BATCH = 100
# What a digest needs from the alerts it lists (thousands of rows for a large editor), read
# as plain tuples: a model instance per alert, certificate, officine and renewal was a third
# of the time spent before rendering.
_ALERT_COLUMNS = (
    "pk",
    "digest_id",
    "kind",
    "threshold",
    "days_left",
    "renewal_id",
    "renewal__revoked_at",
    "no_recipient",
    "certificate_id",
    "certificate__usable_until",
    "certificate__common_name",
    "certificate__profile",
    "certificate__services",
    "certificate__revoked_at",
    "certificate__superseded_at",
    "certificate__officine__raison_sociale",
    "certificate__officine__finess",
)


class _Officine(NamedTuple):
    raison_sociale: str
    finess: str


class _Certificate(NamedTuple):
    pk: int
    usable_until: datetime
    common_name: str
    profile: str
    services: list[str]
    revoked_at: datetime | None
    superseded_at: datetime | None
    officine: _Officine


class _Renewal(NamedTuple):
    revoked_at: datetime | None


class _Alert(NamedTuple):
    """An alert row as the digest code reads it: the same attribute paths as an `AlertLog`
    with `certificate__officine` and `renewal` selected, so both can be rendered."""

    pk: int
    digest_id: int
    kind: str
    threshold: int
    days_left: int
    renewal_id: int | None
    renewal: _Renewal | None
    certificate: _Certificate
    no_recipient: bool = False


def _pending_alerts(digest_ids: list[int]) -> list[_Alert]:
    """The pending alerts of these digests, one SELECT; a certificate listed in several
    digests of the batch is one object."""
    certificates: dict[int, _Certificate] = {}
    officines: dict[tuple[str, str], _Officine] = {}
    alerts = []
    rows = (
        AlertLog.objects.filter(digest_id__in=digest_ids, status=AlertStatus.PENDING)
        .order_by("pk")
        .values_list(*_ALERT_COLUMNS)
    )
    for (
        pk,
        digest_id,
        kind,
        threshold,
        days_left,
        renewal_id,
        renewal_revoked_at,
        no_recipient,
        certificate_id,
        *certificate_fields,
        raison_sociale,
        finess,
    ) in rows:
        certificate = certificates.get(certificate_id)
        if certificate is None:
            officine = officines.get((raison_sociale, finess))
            if officine is None:
                officine = officines[raison_sociale, finess] = _Officine(raison_sociale, finess)
            certificate = certificates[certificate_id] = _Certificate(
                certificate_id, *certificate_fields, officine
            )
        renewal = _Renewal(renewal_revoked_at) if renewal_id is not None else None
        alerts.append(
            _Alert(
                pk,
                digest_id,
                kind,
                threshold,
                days_left,
                renewal_id,
                renewal,
                certificate,
                no_recipient,
            )
        )
    return alerts


def claim_timeout() -> timedelta:
    default = int(getattr(settings, "CELERY_TASK_TIME_LIMIT", 900)) + 300
    return timedelta(seconds=int(getattr(settings, "ALERT_CLAIM_TIMEOUT", default)))


def worker_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


@dataclass(slots=True)
class DigestItem:
    """One line of a digest, formatted for the recipient's language."""

    alert_id: int
    certificate_id: int
    kind: str
    days_left: int
    threshold: int
    expires_on: str
    when: str
    officine: str
    finess: str
    common_name: str
    profile: str
    services: str
    url: str
    renewal_url: str
    no_recipient: bool = False

    def __getitem__(self, name: str) -> Any:
        """Templates try `item[name]` before `item.name`: answering it saves an exception
        per variable (two templates, ~10 variables a line, thousands of lines)."""
        return getattr(self, name)


@dataclass
class DigestOutcome:
    status: str  # "sent", "busy" (claimed elsewhere or already sent), "cancelled"
    digest_id: int
    count: int = 0


def still_due(alerts: list[Any]) -> tuple[list[Any], list[Any]]:
    """Split alerts into those to send and those the certificate's new state cancels."""
    renewal_ids = {a.renewal_id for a in alerts if a.kind == AlertKind.INSTALL and a.renewal_id}
    installed = set(
        Installation.objects.filter(certificate_id__in=renewal_ids).values_list(
            "certificate_id", flat=True
        )
        if renewal_ids
        else ()
    )
    keep, cancel = [], []
    for alert in alerts:
        certificate = alert.certificate
        if (
            certificate.revoked_at is not None
            or (alert.kind == AlertKind.EXPIRY and certificate.superseded_at is not None)
            or (
                alert.kind == AlertKind.INSTALL
                and (
                    alert.renewal is None
                    or alert.renewal.revoked_at is not None
                    or alert.renewal_id in installed
                )
            )
        ):
            cancel.append(alert)
        else:
            keep.append(alert)
    return keep, cancel


def when_label(days: int) -> str:
    if days > 0:
        return ngettext("in %(days)d day", "in %(days)d days", days) % {"days": days}
    if days == 0:
        return _("today")
    return ngettext("expired %(days)d day ago", "expired %(days)d days ago", -days) % {
        "days": -days
    }


class RenderCache:
    """What the digests of a batch share: what repeats from line to line and from digest to
    digest — a date's format, "in 3 days", a profile's label — computed once per language
    instead of once per line."""

    def __init__(self) -> None:
        self.strings: dict[tuple, str] = {}
        self.profiles = dict(Certificate._meta.get_field("profile").flatchoices)

    def _once(self, key: tuple, compute: Callable[[], Any]) -> str:
        found = self.strings.get(key)
        if found is None:
            found = self.strings[key] = str(compute())
        return found

    def date(self, language: str, day) -> str:
        return self._once(
            (language, "date", day), lambda: formats.date_format(day, "SHORT_DATE_FORMAT")
        )

    def when(self, language: str, days: int) -> str:
        return self._once((language, "when", days), lambda: when_label(days))

    def profile(self, language: str, code: str) -> str:
        return self._once((language, "profile", code), lambda: self.profiles.get(code, code))


def digest_items(alerts: list[Any], cache: RenderCache | None = None) -> list[DigestItem]:
    """Digest lines sorted by urgency (fewest days left first). Call inside the language.

    `alerts` are `AlertLog` rows with `certificate__officine` and `renewal` selected, or the
    lighter rows `_pending_alerts` reads. `cache` may be shared by the digests of a batch.
    """
    cache = cache or RenderCache()
    language = translation.get_language()
    url, localdate = certificate_url, timezone.localdate
    items = []
    for alert in alerts:
        certificate = alert.certificate
        officine = certificate.officine
        days_left = alert.days_left
        items.append(
            DigestItem(
                alert_id=alert.pk,
                certificate_id=certificate.pk,
                kind=alert.kind,
                days_left=days_left,
                threshold=alert.threshold,
                expires_on=cache.date(language, localdate(certificate.usable_until)),
                when=cache.when(language, days_left),
                officine=officine.raison_sociale,
                finess=officine.finess,
                common_name=certificate.common_name,
                profile=cache.profile(language, certificate.profile),
                services=", ".join(certificate.services),
                url=url(certificate.pk),
                renewal_url=url(alert.renewal_id) if alert.renewal_id else "",
                no_recipient=bool(getattr(alert, "no_recipient", False)),
            )
        )
    items.sort(key=lambda i: (i.days_left, i.officine, i.common_name, i.certificate_id))
    return items


def digest_subject(
    items: list[DigestItem], alerts: list[Any], cache: RenderCache | None = None
) -> str:
    """E.g. "3 certificates expire — the nearest on 12/01/2027" (call inside the language)."""
    expiring = [i for i in items if i.kind == AlertKind.EXPIRY]
    chosen = expiring or items
    count = len({i.certificate_id for i in chosen})
    nearest = min(
        a.certificate.usable_until for a in alerts if not expiring or a.kind == AlertKind.EXPIRY
    )
    cache = cache or RenderCache()
    date = cache.date(translation.get_language(), timezone.localdate(nearest))
    if expiring:
        return ngettext(
            "%(count)d certificate expires on %(date)s",
            "%(count)d certificates expire — the nearest on %(date)s",
            count,
        ) % {"count": count, "date": date}
    return ngettext(
        "%(count)d renewed certificate to install before %(date)s",
        "%(count)d renewed certificates to install — the nearest deadline on %(date)s",
        count,
    ) % {"count": count, "date": date}


@lru_cache(maxsize=1024)
def _encoded_subject(subject: str, charset: str) -> str:
    """The RFC 2047 encoded-words of a non-ASCII subject, separated by spaces.

    Django encodes a non-ASCII Subject with `email.header.Header`, whose line splitting is
    quadratic in pure Python (costly for "2 certificats expirent — le plus proche le …",
    once per message: BENCHMARKS.md). Subjects repeat from digest to digest ("2 certificats…", a handful
    of dates), so they are encoded once here; Django then only folds the ASCII result,
    which decodes to the same text.
    """
    try:
        subject.encode("ascii")
    except UnicodeEncodeError:
        return " ".join(Header(subject, charset).encode().split())
    return subject


class DigestMessage(EmailMultiAlternatives):
    """A digest e-mail; its Subject header is encoded through `_encoded_subject`."""

    def message(self):
        subject = self.subject
        self.subject = _encoded_subject(str(subject), self.encoding or settings.DEFAULT_CHARSET)
        try:
            return super().message()
        finally:
            self.subject = subject


def render_digest(digest: AlertDigest, alerts: list[AlertLog]) -> EmailMultiAlternatives:
    """One message, HTML and plain text, in the digest's language; one template each."""
    return render_digest_items(digest, alerts)[0]


def render_digest_items(
    digest: AlertDigest, alerts: list[Any], cache: RenderCache | None = None
) -> tuple[EmailMultiAlternatives, list[DigestItem]]:
    """The message and its lines (the in-app copy reuses them)."""
    cache = cache or RenderCache()
    with translation.override(digest.language or settings.LANGUAGE_CODE):
        items = digest_items(alerts, cache)
        subject = digest_subject(items, alerts, cache)
        context = {
            "subject": subject,
            "language": digest.language,
            "expiring": [i for i in items if i.kind == AlertKind.EXPIRY],
            "to_install": [i for i in items if i.kind == AlertKind.INSTALL],
            "count": len(items),
            "site_url": settings.SITE_URL,
        }
        text = render_to_string("emails/alerts/digest.txt", context)
        html = render_to_string("emails/alerts/digest.html", context)
    message = DigestMessage(
        subject=subject,
        body=text,
        to=[digest.recipient],
        headers={
            "Message-ID": digest.message_id,
            "Content-Language": digest.language,
            "Auto-Submitted": "auto-generated",
            "X-Auto-Response-Suppress": "All",
        },
    )
    message.attach_alternative(html, "text/html")
    return message, items


def _notification_body(items: list[DigestItem]) -> str:
    lines = [
        f"{i.expires_on} ({i.when}) — {i.officine} ({i.finess}) — {i.common_name}"
        for i in items[:NOTIFICATION_BODY_LINES]
    ]
    more = len(items) - NOTIFICATION_BODY_LINES
    if more > 0:
        lines.append(ngettext("… and %(n)d more", "… and %(n)d more", more) % {"n": more})
    return "\n".join(lines)


def _claimable(now) -> Q:
    return Q(status=AlertDigest.Status.PENDING) & (
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - claim_timeout())
    )


def _claim(ids: list[int], worker: str, now) -> dict[int, AlertDigest]:
    """One UPDATE claims what is free in `ids`; the claimed rows are read back by
    (worker, timestamp), which no other claimer can share."""
    AlertDigest.objects.filter(_claimable(now), pk__in=ids).update(
        claimed_at=now, claimed_by=worker
    )
    return {
        d.pk: d
        for d in AlertDigest.objects.filter(
            pk__in=ids, claimed_by=worker, claimed_at=now, status=AlertDigest.Status.PENDING
        )
    }


def _in_app_copy(
    digest: AlertDigest, message: EmailMultiAlternatives, items: list[DigestItem]
) -> None:
    """The notification of a portal user's digest; unique per (user, digest), so a re-send
    after a crash does not add a second one."""
    with translation.override(digest.language or settings.LANGUAGE_CODE):
        single = len({i.certificate_id for i in items}) == 1
        notification = Notification(
            user_id=digest.user_id,
            digest_id=digest.pk,
            title=str(message.subject)[:255],
            body=_notification_body(items),
            certificate_id=items[0].certificate_id,
            url=certificate_path(items[0].certificate_id) if single else "",
        )
    Notification.objects.bulk_create([notification], ignore_conflicts=True)


_MARK_SQL = """
WITH digest AS (
    UPDATE {digests} SET status = %s, sent_at = %s, size = %s, last_error = ''
    WHERE id = %s RETURNING id
)
UPDATE {alerts} SET status = %s, sent_at = %s
WHERE id = ANY(%s) AND EXISTS (SELECT 1 FROM digest)
"""


def _mark_statement(connection, digest: AlertDigest, alerts: list[Any]) -> tuple[str, list]:
    """PostgreSQL: the digest and its alerts "sent" in one statement (one transaction)."""
    sent_at = timezone.now()
    ids = [a.pk for a in alerts]
    sql = _MARK_SQL.format(
        digests=connection.ops.quote_name(AlertDigest._meta.db_table),
        alerts=connection.ops.quote_name(AlertLog._meta.db_table),
    )
    params = [
        AlertDigest.Status.SENT,
        sent_at,
        len(ids),
        digest.pk,
        AlertStatus.SENT,
        sent_at,
        ids,
    ]
    return sql, params


def _mark_sent(
    digest: AlertDigest,
    alerts: list[Any],
    message: EmailMultiAlternatives,
    items: list[DigestItem],
) -> None:
    """The digest and its alerts "sent", atomically, waiting for the commit (one statement
    on PostgreSQL: this runs once per recipient, thousands of times a morning)."""
    if digest.user_id:
        _in_app_copy(digest, message, items)
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(*_mark_statement(connection, digest, alerts))
        return
    sent_at = timezone.now()
    ids = [a.pk for a in alerts]
    with transaction.atomic():
        AlertDigest.objects.filter(pk=digest.pk).update(
            status=AlertDigest.Status.SENT, sent_at=sent_at, size=len(ids), last_error=""
        )
        AlertLog.objects.filter(pk__in=ids).update(status=AlertStatus.SENT, sent_at=sent_at)


@contextmanager
def relaxed_session():
    """PostgreSQL: no WAL flush wait at each COMMIT while digests are sent.

    Only claims, cancellations and "sent" marks are written meanwhile. A worker crash cannot
    lose such a commit; a database server crash can lose the last few hundred milliseconds
    of them, which the design already tolerates: a lost claim is claimed again, a lost mark
    re-sends the digest with the same Message-ID. It saves an fsync per digest.
    """
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def _send_batch(ids: list[int], worker: str, now) -> dict[int, DigestOutcome]:
    outcomes = {pk: DigestOutcome("busy", pk) for pk in ids}
    digests = _claim(ids, worker, now)
    if not digests:
        return outcomes
    alerts = _pending_alerts(list(digests))
    keep, cancel = still_due(alerts)
    if cancel:
        AlertLog.objects.filter(pk__in=[a.pk for a in cancel]).update(
            status=AlertStatus.CANCELLED, error="certificate revoked, replaced or installed"
        )
    grouped: dict[int, list[AlertLog]] = {}
    for alert in keep:
        grouped.setdefault(alert.digest_id, []).append(alert)
    empty = [pk for pk in digests if pk not in grouped]
    if empty:
        AlertDigest.objects.filter(pk__in=empty).update(
            status=AlertDigest.Status.CANCELLED, claimed_at=None
        )
        outcomes.update({pk: DigestOutcome("cancelled", pk) for pk in empty})
    pending = list(grouped)
    cache = RenderCache()
    try:
        # One connection for the batch (one SMTP handshake, not one per recipient).
        with get_connection() as connection:
            for pk in list(pending):
                message, items = render_digest_items(digests[pk], grouped[pk], cache)
                message.connection = connection
                message.send()
                _mark_sent(digests[pk], grouped[pk], message, items)
                pending.remove(pk)
                outcomes[pk] = DigestOutcome("sent", pk, len(grouped[pk]))
    except Exception as exc:
        # Not sent: free the claims at once so a retry does not wait for the timeout.
        AlertDigest.objects.filter(pk__in=pending).update(claimed_at=None)
        if pending:
            AlertDigest.objects.filter(pk=pending[0]).update(last_error=str(exc)[:500])
        logger.warning("digests %s not sent: %s", pending, exc)
        raise
    return outcomes


def digests_send(
    digest_ids: list[int], *, worker: str = "", now=None, batch: int = DIGEST_BATCH
) -> list[DigestOutcome]:
    """Claim, render, send and mark digests, `batch` at a time (a few queries per batch,
    one transaction per digest sent). Digests sent or claimed elsewhere are "busy"."""
    worker = worker or worker_label()
    outcomes: dict[int, DigestOutcome] = {}
    with relaxed_session():
        for start in range(0, len(digest_ids), batch):
            chunk = list(digest_ids[start : start + batch])
            outcomes.update(_send_batch(chunk, worker, now or timezone.now()))
    return [outcomes[pk] for pk in digest_ids]


def digest_send(*, digest_id: int, worker: str = "", now=None) -> DigestOutcome:
    """One digest (see `digests_send`)."""
    return digests_send([digest_id], worker=worker, now=now)[0]
