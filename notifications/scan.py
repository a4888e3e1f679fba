"""The daily scan: find due (certificate, threshold) pairs, record them, group them in digests.

How it stays correct when it runs late, twice, or twice at the same time:

* Due: an alert for threshold T is due when days_left <= T. Per (certificate, recipient,
  channel) only the most urgent due threshold M is sent, and only when no alert at M or a
  more urgent threshold was recorded before. The less urgent thresholds passed over on
  catch-up are recorded "skipped", so a scan missed for a week sends one alert, not three.
* Never twice: rows are inserted with the database's unique constraint on (certificate,
  threshold, recipient, channel) and ON CONFLICT DO NOTHING; two concurrent scans insert
  each row once. Insertions are sorted so concurrent transactions lock in the same order.
* Stop at once: only live certificates (neither revoked nor superseded) get expiry alerts.
  A superseded certificate whose renewal (the certificate that `replaces` it, not revoked)
  has no `Installation` yet gets the softer "install the new certificate" reminder on
  positive thresholds only, i.e. until it is installed or the old one expires. The digest
  sender re-checks this just before sending (a revocation at 9:00 cancels the 7:00 rows).
* Grouping: once every editor is scanned, each recipient's pending e-mail alerts are
  attached to one new `AlertDigest` (one UPDATE, which only takes rows with no digest, so
  concurrent scans cannot both take a row); the digests are then enqueued through the
  outbox by batches of 100 ids. Pending webhook alerts become `WebhookDelivery` rows in the
  same transaction as the alerts. One digest per recipient per day follows from the alerts
  being recorded once; after a crash, a leftover digest may go out on its own.

Recipients: notifications/recipients.py (who hears about an officine's certificates).

Queries: per editor, one query for the due certificates (with their officine and technical
administrator), then per chunk of 2,000 certificates one for pharmacists, one for the alert
contacts (`alert_contacts`) and one for the
alerts already recorded — never a query per certificate.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from time import monotonic

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, Subquery
from django.utils import timezone

from certificates.models import Certificate, Installation
from notifications.digests import DIGEST_BATCH
from notifications.models import (
    AlertDigest,
    AlertKind,
    AlertLog,
    AlertPolicy,
    AlertStatus,
    Channel,
    WebhookEndpoint,
    WebhookEvent,
)
from notifications.policy import days_left as compute_days_left
from notifications.policy import due_thresholds, is_weekly, policy_thresholds
from notifications.recipients import (
    EditorAdmins,
    Recipient,
    editor_subscribers,
    officine_pharmacists,
    officine_recipients,
)
from notifications.webhooks.delivery import deliveries_due, deliveries_for_alerts
from officines.selectors import alert_contacts
from portal import outbox
from portal.models import Editor, User

logger = logging.getLogger(__name__)

CHUNK = 2000


@dataclass(slots=True)
class PlannedAlert:
    """An `AlertLog` row to insert, without the cost of a model instance (50,000 on a cold
    start); the attribute names are the model's."""

    certificate: Certificate
    threshold: int
    kind: str
    recipient: str
    user_id: int | None
    channel: str
    endpoint_id: int | None
    status: str
    days_left: int
    scan_date: date
    renewal_id: int | None
    no_recipient: bool = False

    @property
    def certificate_id(self) -> int:
        return self.certificate.pk

    def key(self) -> tuple[int, int, str, str]:
        return (self.certificate.pk, self.threshold, self.recipient, self.channel)


@dataclass
class ScanReport:
    """What a scan recorded (or, in a dry run, would record)."""

    today: date
    dry_run: bool
    alerts: list[PlannedAlert] = field(default_factory=list)
    certificates_due: int = 0
    digest_ids: list[int] = field(default_factory=list)
    delivery_ids: list[int] = field(default_factory=list)

    @property
    def to_send(self) -> list[PlannedAlert]:
        return [a for a in self.alerts if a.status == AlertStatus.PENDING]

    def by_recipient(self, channel: str = Channel.EMAIL) -> dict[str, list[PlannedAlert]]:
        grouped: dict[str, list[PlannedAlert]] = defaultdict(list)
        for alert in self.to_send:
            if alert.channel == channel:
                grouped[alert.recipient].append(alert)
        for alerts in grouped.values():
            alerts.sort(key=lambda a: (a.days_left, a.certificate_id))
        return dict(sorted(grouped.items()))


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _renewals_to_install():
    """Renewals (certificates replacing the outer one) not revoked and not yet installed."""
    return Certificate.objects.filter(replaces=OuterRef("pk"), revoked_at__isnull=True).filter(
        ~Exists(Installation.objects.filter(certificate=OuterRef("pk")))
    )


def due_certificates(editor_id: int, today: date, max_threshold: int):
    """One query: live certificates within the largest threshold (or expired), and superseded
    ones still waiting for their renewal to be installed, with what the recipients need."""
    cutoff = _local_midnight(today + timedelta(days=max_threshold + 1))
    tomorrow = _local_midnight(today + timedelta(days=1))
    renewals = _renewals_to_install()
    live = Q(revoked_at__isnull=True, superseded_at__isnull=True)
    waiting_install = Q(Exists(renewals), revoked_at__isnull=True, superseded_at__isnull=False) & Q(
        usable_until__gte=tomorrow
    )
    return (
        Certificate.objects.of_editor(editor_id)
        .filter(usable_until__lt=cutoff, officine__is_active=True)
        .filter(live | waiting_install)
        .annotate(renewal_pk=Subquery(renewals.order_by("-usable_until", "-pk").values("pk")[:1]))
        .select_related("officine")
        .defer("pem", "chain_pem", "subject_dn", "issuer_dn")
        .order_by("usable_until", "pk")
    )


def _recorded(certificate_ids: list[int]) -> dict[tuple[int, str, str], set[int]]:
    recorded: dict[tuple[int, str, str], set[int]] = defaultdict(set)
    rows = AlertLog.objects.filter(certificate_id__in=certificate_ids).values_list(
        "certificate_id", "recipient", "channel", "threshold"
    )
    for certificate_id, recipient, channel, threshold in rows:
        recorded[(certificate_id, recipient, channel)].add(threshold)
    return recorded


def _plan(
    *,
    certificate: Certificate,
    kind: str,
    due: list[int],
    left: int,
    today: date,
    recipient: str,
    user_id: int | None,
    channel: str,
    endpoint_id: int | None,
    recorded: dict[tuple[int, str, str], set[int]],
) -> list[PlannedAlert]:
    """The rows to write for one (certificate, recipient, channel): nothing, or the alert at
    the most urgent due threshold plus the passed-over thresholds marked skipped."""
    logged = recorded.get((certificate.pk, recipient, channel), ())
    urgent = due[0]
    if any(t <= urgent for t in logged):
        return []
    renewal_id = certificate.renewal_pk if kind == AlertKind.INSTALL else None
    return [
        PlannedAlert(
            certificate,
            t,
            kind,
            recipient,
            user_id,
            channel,
            endpoint_id,
            AlertStatus.PENDING if t == urgent else AlertStatus.SKIPPED,
            left,
            today,
            renewal_id,
        )
        for t in due
        if t == urgent or (t not in logged and not is_weekly(t))
    ]


def _scan_editor(editor: Editor, today: date, report: ScanReport) -> None:
    policy = AlertPolicy.objects.of_editor(editor.pk).first()
    thresholds = policy_thresholds(policy.extra_thresholds if policy else None)
    subscribers = editor_subscribers(editor.pk)
    admins = EditorAdmins(editor.pk)
    endpoints = list(WebhookEndpoint.objects.of_editor(editor.pk).filter(is_active=True))
    certificates = due_certificates(editor.pk, today, thresholds[0])
    chunk: list[Certificate] = []
    for certificate in certificates.iterator(chunk_size=CHUNK):
        chunk.append(certificate)
        if len(chunk) >= CHUNK:
            _scan_chunk(chunk, thresholds, subscribers, endpoints, today, report, admins)
            chunk = []
    if chunk:
        _scan_chunk(chunk, thresholds, subscribers, endpoints, today, report, admins)


def _scan_chunk(
    chunk: list[Certificate],
    thresholds: list[int],
    subscribers: list[Recipient],
    endpoints: list[WebhookEndpoint],
    today: date,
    report: ScanReport,
    admins: Iterable[Recipient] = (),
) -> None:
    pharmacists = officine_pharmacists({c.officine_id for c in chunk})
    contacts = alert_contacts({c.officine_id for c in chunk})
    recorded = _recorded([c.pk for c in chunk])
    per_officine: dict[int, list[Recipient]] = {}
    rows: list[PlannedAlert] = []
    for certificate in chunk:
        left = compute_days_left(certificate.usable_until, today)
        kind = AlertKind.INSTALL if certificate.superseded_at else AlertKind.EXPIRY
        due = due_thresholds(left, thresholds, weekly=kind == AlertKind.EXPIRY)
        if kind == AlertKind.INSTALL:
            due = [t for t in due if t > 0]
        if not due:
            continue
        report.certificates_due += 1
        recipients = per_officine.get(certificate.officine_id)
        if recipients is None:
            recipients = officine_recipients(
                certificate.officine,
                pharmacists.get(certificate.officine_id, ()),
                contacts.get(certificate.officine_id),
            )
            per_officine[certificate.officine_id] = recipients
        seen: set[str] = set()
        # Nobody to tell: the editor's admins hear of it, marked as such (issue 14 §6).
        no_recipient = not recipients and not subscribers
        for recipient in [*recipients, *subscribers] or list(admins):
            if recipient.email in seen:
                continue
            seen.add(recipient.email)
            planned = _plan(
                certificate=certificate,
                kind=kind,
                due=due,
                left=left,
                today=today,
                recipient=recipient.email,
                user_id=recipient.user_id,
                channel=Channel.EMAIL,
                endpoint_id=None,
                recorded=recorded,
            )
            for alert in planned:
                alert.no_recipient = no_recipient
            rows += planned
        if kind == AlertKind.EXPIRY:
            event = WebhookEvent.EXPIRING if due[0] > 0 else WebhookEvent.EXPIRED
            for endpoint in endpoints:
                if event in endpoint.events:
                    rows += _plan(
                        certificate=certificate,
                        kind=kind,
                        due=due,
                        left=left,
                        today=today,
                        recipient=endpoint.recipient,
                        user_id=None,
                        channel=Channel.WEBHOOK,
                        endpoint_id=endpoint.pk,
                        recorded=recorded,
                    )
    report.alerts.extend(rows)
    if report.dry_run or not rows:
        return
    rows.sort(key=PlannedAlert.key)
    with transaction.atomic():
        insert_alerts(rows)
        if endpoints:
            deliveries_for_alerts(certificates=chunk)


_ALERT_COLUMNS = (
    ("certificate_id", "bigint"),
    ("threshold", "smallint"),
    ("kind", "varchar"),
    ("recipient", "varchar"),
    ("user_id", "bigint"),
    ("channel", "varchar"),
    ("endpoint_id", "bigint"),
    ("status", "varchar"),
    ("days_left", "smallint"),
    ("scan_date", "date"),
    ("renewal_id", "bigint"),
    ("no_recipient", "boolean"),
)
INSERT_BATCH = 10_000
ANALYZE_AFTER_ROWS = 10_000


def insert_alerts(rows: list[PlannedAlert]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: the unique constraint decides, not this code.

    On PostgreSQL one statement per 10,000 rows from typed arrays (UNNEST), sent as binary
    parameters: no per-value preparation as in `bulk_create` (slow on a cold start of
    50,000 rows), and no quoting of each value into the SQL text either, nor its parsing on
    the server (Django's cursors bind on the client side).
    """
    connection = transaction.get_connection()
    if connection.vendor == "sqlite":
        _insert_alerts_sqlite(connection, rows)
        return
    if connection.vendor != "postgresql":
        AlertLog.objects.bulk_create(
            [
                AlertLog(**{name: getattr(row, name) for name, _type in _ALERT_COLUMNS})
                for row in rows
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )
        return
    import psycopg

    table = connection.ops.quote_name(AlertLog._meta.db_table)
    names = ", ".join(connection.ops.quote_name(name) for name, _type in _ALERT_COLUMNS)
    arrays = ", ".join(f"%b::{sql_type}[]" for _name, sql_type in _ALERT_COLUMNS)
    sql = (
        f"INSERT INTO {table} ({names}, error, created_at) "  # noqa: S608 (identifiers only)
        f"SELECT *, '', %b FROM UNNEST({arrays}) ON CONFLICT DO NOTHING"
    )
    now = timezone.now()
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        for start in range(0, len(rows), INSERT_BATCH):
            batch = rows[start : start + INSERT_BATCH]
            columns = [[getattr(row, name) for row in batch] for name, _type in _ALERT_COLUMNS]
            started = monotonic()
            cursor.execute(sql, [now, *columns])
            if connection.queries_logged:
                connection.queries_log.append(
                    {
                        "sql": f"{sql} -- {len(batch)} rows",
                        "time": f"{monotonic() - started:.3f}",
                    }
                )


def _insert_alerts_sqlite(connection, rows: list[PlannedAlert]) -> None:
    """SQLite (development, CI): one prepared INSERT run for every row (`executemany`),
    instead of `bulk_create`'s per-value preparation in batches of 999 parameters."""
    table = connection.ops.quote_name(AlertLog._meta.db_table)
    names = ", ".join(connection.ops.quote_name(name) for name, _type in _ALERT_COLUMNS)
    placeholders = ", ".join(["%s"] * (len(_ALERT_COLUMNS) + 2))
    sql = (
        f"INSERT INTO {table} ({names}, error, created_at) "  # noqa: S608 (identifiers only)
        f"VALUES ({placeholders}) ON CONFLICT DO NOTHING"
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    fields = [name for name, _type in _ALERT_COLUMNS]
    day_at = fields.index("scan_date")
    dates: dict[date, str] = {}
    values = []
    for row in rows:
        value = [getattr(row, name) for name in fields]
        day = value[day_at]
        if day not in dates:
            dates[day] = connection.ops.adapt_datefield_value(day)
        value[day_at] = dates[day]
        values.append((*value, "", now))
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)


def digests_prepare() -> list[int]:
    """Attach every recipient's pending, unattached e-mail alerts to one new digest each.

    Two queries whatever the number of recipients (plus one to find their language), so a
    concurrent scan cannot attach a row twice: the UPDATE only takes rows with no digest.
    """
    # Rows attached to a digest while it was being rendered stay pending when it is marked
    # sent: give them back first. Plain indexed look-ups, no join in an UPDATE: right after
    # the scan's inserts the planner's statistics are stale, and a join plan on a large
    # alert table can then be very slow.
    attached = dict(
        AlertLog.objects.filter(
            channel=Channel.EMAIL, status=AlertStatus.PENDING, digest__isnull=False
        ).values_list("pk", "digest_id")
    )
    if attached:
        open_digests = set(
            AlertDigest.objects.filter(
                pk__in=set(attached.values()), status=AlertDigest.Status.PENDING
            ).values_list("pk", flat=True)
        )
        stuck = [pk for pk, digest_id in attached.items() if digest_id not in open_digests]
        if stuck:
            AlertLog.objects.filter(pk__in=stuck).update(digest=None)
    unattached = AlertLog.objects.filter(
        channel=Channel.EMAIL, status=AlertStatus.PENDING, digest__isnull=True
    )
    groups = list(unattached.values("recipient").annotate(user=Max("user_id"), n=Count("id")))
    if not groups:
        return []
    missing = [g["recipient"] for g in groups if g["user"] is None]
    users: dict[str, tuple[int, str]] = {}
    for start in range(0, len(missing), CHUNK):
        for pk, email, language in User.objects.filter(
            email__in=missing[start : start + CHUNK], is_active=True
        ).values_list("pk", "email", "language"):
            users[email.lower()] = (pk, language)
    languages = dict(
        User.objects.filter(pk__in=[g["user"] for g in groups if g["user"]]).values_list(
            "pk", "language"
        )
    )
    batch = uuid.uuid4()
    digests = []
    for group in groups:
        user_id = group["user"]
        language = languages.get(user_id) if user_id else None
        if user_id is None and group["recipient"] in users:
            user_id, language = users[group["recipient"]]
        digests.append(
            AlertDigest(
                batch=batch,
                recipient=group["recipient"],
                user_id=user_id,
                language=language or settings.LANGUAGE_CODE,
            )
        )
    with transaction.atomic():
        created = AlertDigest.objects.bulk_create(digests, batch_size=1000)
        ids = [d.pk for d in created]
        if None in ids:  # a backend that does not return ids from a bulk insert
            ids = list(AlertDigest.objects.filter(batch=batch).values_list("pk", flat=True))
        unattached.update(
            digest=Subquery(
                AlertDigest.objects.filter(batch=batch, recipient=OuterRef("recipient")).values(
                    "pk"
                )[:1]
            )
        )
        # A concurrent scan may have taken every row of some recipient first.
        used = set(AlertLog.objects.filter(digest_id__in=ids).values_list("digest_id", flat=True))
        empty = [pk for pk in ids if pk not in used]
        if empty:
            AlertDigest.objects.filter(pk__in=empty).delete()
    return [pk for pk in ids if pk in used]


def pending_digest_ids() -> list[int]:
    """Digests not sent yet, including those of an earlier run that crashed or failed."""
    return list(
        AlertDigest.objects.filter(status=AlertDigest.Status.PENDING)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )


def alert_scan(
    *,
    today: date | None = None,
    dry_run: bool = False,
    editor_ids: Iterable[int] | None = None,
    enqueue: bool = True,
) -> ScanReport:
    """Scan every active editor for due alerts; record them, prepare digests and (on commit)
    enqueue their sending. `today` defaults to the local date; a dry run writes nothing."""
    today = today or timezone.localdate()
    report = ScanReport(today=today, dry_run=dry_run)
    editors = Editor.objects.filter(is_active=True).order_by("pk")
    if editor_ids is not None:
        editors = editors.filter(pk__in=list(editor_ids))
    for editor in editors:
        _scan_editor(editor, today, report)
    if dry_run:
        return report
    if len(report.alerts) >= ANALYZE_AFTER_ROWS:
        _refresh_statistics()
    digests_prepare()
    report.digest_ids = pending_digest_ids()
    report.delivery_ids = deliveries_due()
    if enqueue:
        _enqueue(report.digest_ids, report.delivery_ids)
    logger.info(
        "alert scan %s: %d certificates due, %d alerts to send, %d digests, %d deliveries",
        today,
        report.certificates_due,
        len(report.to_send),
        len(report.digest_ids),
        len(report.delivery_ids),
    )
    return report


def _refresh_statistics() -> None:
    """After a large insert (an editor's first scan: tens of thousands of rows), refresh the
    planner's statistics as autovacuum would later; the UPDATEs that follow (digests, marks)
    otherwise plan for an empty table."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            for model in (AlertLog, AlertDigest):
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _enqueue(digest_ids: list[int], delivery_ids: list[int]) -> None:
    """Through the transactional outbox: a broker hiccup delays the mail, never loses it."""

    with transaction.atomic():
        for start in range(0, len(digest_ids), DIGEST_BATCH):
            chunk = digest_ids[start : start + DIGEST_BATCH]
            outbox.enqueue("notifications.tasks.send_digests", digest_ids=chunk)
        for delivery_id in delivery_ids:
            outbox.enqueue("notifications.tasks.deliver_webhook", delivery_id=delivery_id)
