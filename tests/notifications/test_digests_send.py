"""Sending digests at scale without weakening the guarantees: a query budget that does not
grow with the alerts, the light alert rows render like the model rows, the Subject header
encodes like Django's, and on PostgreSQL (a worker's autocommit) each digest is marked "sent"
in one statement before the next one is sent."""

from __future__ import annotations

from email.header import Header, decode_header, make_header

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from notifications import digests
from notifications.digests import DigestMessage, digest_items, digests_send
from notifications.links import certificate_url
from notifications.models import AlertDigest, AlertLog, AlertStatus
from notifications.scan import alert_scan
from tests.factories import OfficineFactory
from tests.helpers.notifications import TODAY
from tests.helpers.tools import postgres_only

requires_postgres = postgres_only(
    "the one-statement marks are the PostgreSQL path (DATABASE_URL=postgres://…)"
)


def officines_due(tenant, cert_in, count: int, per_officine: int = 1) -> list:
    """`count` officines of the shared technical administrator, each with certificates due:
    one digest per officine mailbox plus one for the administrator."""
    officines = [
        OfficineFactory(editor=tenant.editor, technical_administrator=tenant.administrator)
        for _ in range(count)
    ]
    for index, officine in enumerate(officines):
        for k in range(per_officine):
            cert_in(3 + index + k, officine=officine, common_name=f"LGO-{index}-{k}")
    return officines


def mails_to(address: str) -> list:
    return [m for m in mail.outbox if m.to == [address]]


# --------------------------------------------------------------------------- any database


@pytest.mark.django_db
@pytest.mark.parametrize("per_officine", [1, 3])
def test_query_count_per_digest_does_not_grow_with_its_alerts(cert_in, tenant_a, per_officine):
    """One claim, one read of the alerts, one read of installations per batch; then per
    digest only its "sent" mark (one statement on PostgreSQL, two UPDATEs in a savepoint on
    SQLite), whatever the number of lines — never a query per alert or per link."""
    officines_due(tenant_a, cert_in, 4, per_officine)
    report = alert_scan(today=TODAY, enqueue=False)
    assert len(report.digest_ids) == 5
    with CaptureQueriesContext(connection) as queries:
        outcomes = digests_send(report.digest_ids)
    assert [o.status for o in outcomes] == ["sent"] * 5
    assert sum(o.count for o in outcomes) == 2 * 4 * per_officine
    per_digest = 1 if connection.vendor == "postgresql" else 4
    # claim UPDATE + SELECT, alerts SELECT (+ SET/RESET synchronous_commit on PostgreSQL)
    fixed = 5 if connection.vendor == "postgresql" else 3
    assert len(queries) == fixed + per_digest * 5, [q["sql"][:80] for q in queries]


@pytest.mark.django_db
def test_light_rows_render_like_model_rows(cert_in, tenant_a, settings):
    settings.SITE_URL = "https://portail.example.fr"
    officine = tenant_a.officine
    old = cert_in(10, common_name="DMP-SIGN", officine=officine, services=["DMP", "PSC"])
    renewal = cert_in(1000, common_name="DMP-SIGN", replaces=old, officine=officine)
    old.superseded_at = renewal.not_before
    old.save()
    cert_in(-2, common_name="EXPIRED", officine=officine)
    cert_in(5, common_name="SOON", officine=officine, profile="ORG_SIGN")
    report = alert_scan(today=TODAY, enqueue=False)
    digest = AlertDigest.objects.get(
        pk__in=report.digest_ids, recipient=officine.notification_email
    )
    light = digests._pending_alerts([digest.pk])
    models = list(
        AlertLog.objects.filter(digest=digest, status=AlertStatus.PENDING)
        .select_related("certificate__officine", "renewal")
        .order_by("pk")
    )
    assert len(light) == len(models) == 3
    for language in ("fr", "en"):
        with translation.override(language):
            assert digest_items(light) == digest_items(models)
    assert digests.still_due(light)[1] == [] and digests.still_due(models)[1] == []
    lines = {i.common_name: i for i in digest_items(light)}
    assert lines["DMP-SIGN"].renewal_url == f"https://portail.example.fr/certificates/{renewal.pk}/"
    assert lines["DMP-SIGN"].services == "DMP, PSC"
    assert lines["SOON"].profile == "ORG SIGN"
    assert lines["EXPIRED"].url == certificate_url(lines["EXPIRED"].certificate_id)


def test_certificate_links_are_absolute(settings):
    settings.SITE_URL = "https://portail.example.fr/"
    assert certificate_url(42) == "https://portail.example.fr/certificates/42/"


@pytest.mark.parametrize(
    "subject",
    [
        "2 certificats expirent — le plus proche le 12/01/2027",
        "1 certificat renouvelé à installer — échéance la plus proche le 14/01/2027 "
        "(PHARMACIE DE L'ÉGLISE, SAINT-ÉTIENNE-DE-SAINT-GEOIRS)",
        "3 certificates expire - the nearest on 01/12/2027",
    ],
)
def test_subject_header_decodes_to_the_subject_like_djangos(subject):
    message = DigestMessage(subject=subject, body="x", to=["a@example.fr"])
    header = message.message()["Subject"]
    assert "\n" not in header.replace("\n ", "")  # folded, never a bare line break
    assert str(make_header(decode_header(header))) == subject
    django_header = Header(subject, "utf-8").encode() if not subject.isascii() else subject
    assert str(make_header(decode_header(django_header))) == subject
    assert message.subject == subject  # the readable subject stays (in-app copy, tests)


# --------------------------------------------------------------------------- PostgreSQL


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_marks_send_and_mark_every_digest(cert_in, tenant_a):
    """Autocommit (a worker): each mark is committed on its own; the queries are logged."""
    officines_due(tenant_a, cert_in, 5)
    report = alert_scan(today=TODAY, enqueue=False)
    assert not connection.in_atomic_block
    with CaptureQueriesContext(connection) as queries:
        outcomes = digests_send(report.digest_ids, batch=4)
    assert [o.status for o in outcomes] == ["sent"] * 6
    assert len(mail.outbox) == 6
    marks = [q for q in queries if q["sql"].lstrip().startswith("WITH digest AS")]
    assert len(marks) == 6
    assert not AlertLog.objects.filter(status=AlertStatus.PENDING).exists()
    assert set(AlertDigest.objects.values_list("status", flat=True)) == {"sent"}
    assert all(d.size and d.sent_at for d in AlertDigest.objects.all())
    # Sent once: a second run finds nothing to claim.
    assert {o.status for o in digests_send(report.digest_ids)} == {"busy"}
    assert len(mail.outbox) == 6


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_failed_mark_stops_before_the_next_send(cert_in, tenant_a, monkeypatch):
    """The second digest's mark fails on the server: it is reported before the third digest
    is sent, the second stays pending (claim released) and goes again, same Message-ID."""
    officines_due(tenant_a, cert_in, 3)
    report = alert_scan(today=TODAY, enqueue=False)
    ids = report.digest_ids
    statement = digests._mark_statement
    broken = ids[1]

    def failing(conn, digest, alerts):
        sql, params = statement(conn, digest, alerts)
        if digest.pk == broken:
            sql = sql.replace("WHERE id = ANY", "WHERE no_such_column = ANY")
        return sql, params

    monkeypatch.setattr(digests, "_mark_statement", failing)
    with pytest.raises(Exception, match="no_such_column"):
        digests_send(ids)
    assert len(mail.outbox) == 2  # the first two went out, not the third
    statuses = dict(AlertDigest.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in ids] == ["sent", "pending", "pending", "pending"]
    failed = AlertDigest.objects.get(pk=broken)
    assert failed.claimed_at is None and "no_such_column" in failed.last_error
    assert connection.cursor().execute("SELECT 1") is not None  # the connection is usable

    monkeypatch.setattr(digests, "_mark_statement", statement)
    outcomes = digests_send(ids)
    assert [o.status for o in outcomes] == ["busy", "sent", "sent", "sent"]
    first, again = [m for m in mail.outbox if m.extra_headers["Message-ID"] == failed.message_id]
    assert first.to == again.to
    assert len(mail.outbox) == 5
    assert not AlertLog.objects.filter(status=AlertStatus.PENDING).exists()
