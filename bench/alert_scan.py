"""Daily renewal-alert scan on a large editor: scan + digest rendering, next to raw SQL.

Target (issue): 100,000 certificates of which 5,000 are due, scanned and every digest
rendered and "sent" (locmem backend) in under 10 s; a worker under 300 MB RSS. The
reference is a raw SQL select of the due rows in the same run, so the ratio to plain
database work is visible.

Setup, not timed: a throwaway editor "bench-alerts-<timestamp>" with 20,000 officines
(5 certificates each, fake but well-formed PEM/fingerprints, inserted 2,000 rows at a time
so the set-up never holds the 100,000 rows), 50 technical administrators, one subscribed
editor admin; 5,000 certificates expire between 20 days ago and 30 days from now, spread
over 2,500 officines. Everything is deleted at the end, in chunks.

The digests are sent as the scan's `send_digests` tasks are by a worker with Celery's
default concurrency (one process per core): batches of DIGEST_BATCH over os.cpu_count()
forked processes (`alerts.digests_send`, counted in `scan_and_send`); then, reset to
pending, the same digests again in this one process (`alerts.digests_send_one_process`).

Timed as a long-running production worker runs it: DEBUG off (no query log), the URL
resolver and the digest templates loaded by a warm-up first (once per worker process), the
tables vacuumed and analysed after the set-up as autovacuum would have. Mail goes to the
locmem backend, which does its usual work per message (MIME build, copy), but
`CountingBackend` then drops the copy: the outbox of 2,551 mails is the benchmark's
memory, not a worker's.

Memory: `alerts.worker_rss_peak` is the peak RSS (VmHWM) of the scan, the sends and the
rescan, measured after resetting the high-water mark through /proc/self/clear_refs at
the end of the set-up; `alerts.setup_rss_peak` is the set-up's own peak. The reset also
resets what `bench/run` reads with wait4, so `alert_scan.process_rss_peak` then covers the
timed part and the clean-up (without the reset, where it is unavailable, it covers all).

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python -m bench.alert_scan [--quick]

`--quick`: 2,000 certificates, 100 due. `run(quick)` returns rows {name, value, unit,
target, reference, ratio} (ratio = value / target: below 1 is better).
"""

from __future__ import annotations

import argparse
import base64
import gc
import os
import secrets
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path

from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

from bench import common

FULL = (100_000, 5_000)
QUICK = (2_000, 100)
TARGET_SECONDS = 10.0
RSS_BUDGET_MB = 300.0
CERTS_PER_OFFICINE = 5
OFFICINES_PER_ADMINISTRATOR = 400
BENCH_DOMAIN = "bench-alerts.example"
SETUP_BATCH = 2_000  # rows per INSERT in the set-up, and officines per chunk of clean-up


def _fake_pem() -> str:
    b64 = base64.b64encode(secrets.token_bytes(900)).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def _chunks(rows: Iterator, size: int) -> Iterator[list]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _prepare(editor, total: int, due: int, today) -> None:
    from django.utils import timezone

    from certificates.models import Certificate
    from notifications.models import AlertSubscription
    from officines import identifiers
    from officines.models import Officine, OfficineHabilitation, TechnicalAdministrator
    from portal.models import Membership, Role, User

    n_officines = total // CERTS_PER_OFFICINE
    administrators = TechnicalAdministrator.objects.bulk_create(
        [
            TechnicalAdministrator(
                editor=editor,
                full_name=f"Admin technique {i}",
                email=f"admin-tech-{i}@{BENCH_DOMAIN}",
                card_number=f"80{i:08d}",
            )
            for i in range(max(1, n_officines // OFFICINES_PER_ADMINISTRATOR))
        ]
    )
    user = User.objects.create_user(f"abonne@{BENCH_DOMAIN}", password=None, language="fr")
    Membership.objects.create(user=user, editor=editor, role=Role.ADMIN)
    AlertSubscription.objects.create(user=user, editor=editor)

    pem = _fake_pem()
    noon = timezone.make_aware(datetime.combine(today, datetime.min.time())) + timedelta(hours=12)
    due_officines = max(1, due // 2)  # two due certificates per officine concerned
    due_left = due

    def certificates(index: int, officine) -> Iterator:
        nonlocal due_left
        for k in range(CERTS_PER_OFFICINE):
            if due_left and index < due_officines and k < 2:
                days = -20 + (index * 2 + k) % 51  # -20 .. 30
                due_left -= 1
            else:
                days = 100 + (index * 7 + k * 131) % 900
            yield common.fake_certificate(
                officine,
                not_after=noon + timedelta(days=days),
                pem=pem,
                profile="ORG_AUTH_CLI",
                common_name=f"LGO-{k}",
                services=["PSC"],
                subject_dn=f"C=FR, O={officine.raison_sociale}, CN=LGO-{k}",
                issuer_dn="CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS",
            )

    # Officines and their certificates a chunk at a time: never the 100,000 rows at once.
    per_chunk = SETUP_BATCH // CERTS_PER_OFFICINE
    for first in range(0, n_officines, per_chunk):
        officines = Officine.objects.bulk_create(
            [
                Officine(
                    editor=editor,
                    finess=identifiers.generate_finess("69", 200_000 + i),
                    raison_sociale=f"PHARMACIE ALERTES {i}",
                    department="69",
                    technical_administrator=administrators[i % len(administrators)],
                    notification_email=f"officine-{i}@{BENCH_DOMAIN}",
                )
                for i in range(first, min(first + per_chunk, n_officines))
            ]
        )
        OfficineHabilitation.objects.bulk_create(
            OfficineHabilitation(
                editor=editor,
                officine=officine,
                administrator_id=officine.technical_administrator_id,
                state="habilitated",
            )
            for officine in officines
        )
        rows = (
            certificate
            for index, officine in enumerate(officines, start=first)
            for certificate in certificates(index, officine)
        )
        for chunk in _chunks(rows, SETUP_BATCH):
            Certificate.objects.bulk_create(chunk)
    assert due_left == 0, due_left


def _raw_due_select(editor_id: int, cutoff) -> tuple[int, float]:
    """The plain database work: due live certificates with their officine, one SELECT."""
    from django.db import connection

    sql = (
        "SELECT c.id, c.usable_until, c.common_name, o.id, o.finess, o.raison_sociale, "
        "o.notification_email, t.email "
        "FROM certificates_certificate c "
        "JOIN officines_officine o ON o.id = c.officine_id "
        "LEFT JOIN officines_technicaladministrator t ON t.id = o.technical_administrator_id "
        "WHERE c.editor_id = %s AND c.revoked_at IS NULL AND c.superseded_at IS NULL "
        "AND c.usable_until < %s AND o.is_active"
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, [editor_id, cutoff])
        rows = cursor.fetchall()
    return len(rows), time.perf_counter() - started


def _cleanup(editor) -> None:
    """Delete the editor and everything it owns, a chunk of officines (and their
    certificates) at a time, so the clean-up never holds 100,000 rows either."""
    from notifications.models import AlertDigest, AlertLog
    from officines.models import Officine
    from portal.models import User

    alert_ids = list(
        AlertLog.objects.filter(certificate__editor=editor).values_list("pk", flat=True)
    )
    for first in range(0, len(alert_ids), SETUP_BATCH):
        AlertLog.objects.filter(pk__in=alert_ids[first : first + SETUP_BATCH]).delete()
    AlertDigest.objects.filter(recipient__endswith=f"@{BENCH_DOMAIN}").delete()
    officine_ids = list(Officine.objects.filter(editor=editor).values_list("pk", flat=True))
    per_chunk = SETUP_BATCH // CERTS_PER_OFFICINE
    for first in range(0, len(officine_ids), per_chunk):
        Officine.objects.filter(pk__in=officine_ids[first : first + per_chunk]).delete()
    User.objects.filter(email__endswith=f"@{BENCH_DOMAIN}").delete()
    editor.delete()


class CountingBackend(LocmemBackend):
    """The locmem backend, minus the outbox it keeps: each message is validated, built and
    copied as locmem does, then counted, measured and dropped."""

    sent = 0
    biggest = 0  # characters of the largest message, text + HTML

    def send_messages(self, messages):
        first = len(mail.outbox)
        count = super().send_messages(messages)
        for message in mail.outbox[first:]:
            size = len(message.body) + sum(len(a[0]) for a in message.alternatives)
            CountingBackend.biggest = max(CountingBackend.biggest, size)
        del mail.outbox[first:]
        CountingBackend.sent += count
        return count


def _reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (VmHWM, and what wait4 reports) to its
    current RSS: Linux `/proc/self/clear_refs`, "5". False where that is unavailable."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _send_chunk(digest_ids: list[int]) -> tuple[int, int, int, float]:
    """In a worker process (forked, like Celery's prefork pool): send one batch of digests
    as a `send_digests` task does. Returns (digests sent, alerts, biggest mail, peak RSS)."""
    from notifications.digests import digests_send

    CountingBackend.sent = CountingBackend.biggest = 0
    outcomes = digests_send(digest_ids)
    assert all(o.status == "sent" for o in outcomes), [o.status for o in outcomes]
    return (
        len(outcomes),
        sum(o.count for o in outcomes),
        CountingBackend.biggest,
        (common.peak_rss_mb()),
    )


def _send_in_workers(digest_ids: list[int], processes: int) -> tuple[int, int, int, float]:
    """The digests in batches of DIGEST_BATCH over `processes` forked workers: what the
    scan's `send_digests` tasks get from a worker with the default concurrency (the
    number of cores). Returns (digests, alerts, biggest mail, the workers' peak RSS)."""
    import multiprocessing

    from django.db import connections

    from notifications.digests import DIGEST_BATCH

    chunks = [digest_ids[i : i + DIGEST_BATCH] for i in range(0, len(digest_ids), DIGEST_BATCH)]
    connections.close_all()  # forked workers open their own connection
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = list(pool.imap_unordered(_send_chunk, chunks))
    return (
        sum(r[0] for r in results),
        sum(r[1] for r in results),
        max(r[2] for r in results),
        max(r[3] for r in results),
    )


def measure(total: int, due: int) -> list[dict]:
    common.setup_django()
    from django.conf import settings
    from django.db import connection
    from django.template.loader import get_template
    from django.utils import timezone

    from notifications.digests import digests_send
    from notifications.links import certificate_path
    from notifications.models import AlertDigest, AlertLog, AlertStatus
    from notifications.scan import alert_scan
    from portal.models import Editor

    backend = CountingBackend
    backend.sent = backend.biggest = 0
    email_backend, settings.EMAIL_BACKEND = settings.EMAIL_BACKEND, f"{__name__}.CountingBackend"
    mail.outbox = []
    # A production worker: DEBUG off, so Django keeps no log of the queries (with DEBUG on,
    # the last 9,000 statements stay in memory, the set-up's 3 MB INSERTs among them).
    debug, settings.DEBUG = settings.DEBUG, False
    today = timezone.localdate()
    for leftover in Editor.objects.filter(name__startswith="bench-alerts-"):
        _cleanup(leftover)  # an interrupted earlier run
    editor = Editor.objects.create(name=f"bench-alerts-{time.time_ns()}")
    try:
        _prepare(editor, total, due, today)
        # Steady state (statistics, visibility map), and no autovacuum of the fresh rows
        # during the timed part.
        common.analyze(vacuum=True)
        cutoff = timezone.make_aware(
            datetime.combine(today + timedelta(days=31), datetime.min.time())
        )
        raw_rows, raw_seconds = _raw_due_select(editor.pk, cutoff)
        assert raw_rows == due, (raw_rows, due)

        # Warm-up, not timed: imports, URL resolver, templates, translation catalogues
        # (once per worker process).
        alert_scan(today=today, editor_ids=[editor.pk], dry_run=True)
        certificate_path(1)
        for name in ("emails/alerts/digest.txt", "emails/alerts/digest.html"):
            get_template(name)

        gc.collect()
        setup_rss = common.peak_rss_mb()
        reset = _reset_peak_rss()
        started = time.perf_counter()
        report = alert_scan(today=today, editor_ids=[editor.pk], enqueue=False)
        scan_seconds = time.perf_counter() - started
        assert report.certificates_due == due, report.certificates_due

        mine = list(
            AlertDigest.objects.filter(
                pk__in=report.digest_ids, recipient__endswith=f"@{BENCH_DOMAIN}"
            ).values_list("pk", flat=True)
        )
        # Worker processes need a database they can reach (not pytest's in-memory SQLite).
        processes = (os.cpu_count() or 1) if common.server_shareable() else 1
        started = time.perf_counter()
        if processes > 1:
            sent, sent_alerts, biggest, workers_rss = _send_in_workers(mine, processes)
        else:
            sent, sent_alerts, biggest, workers_rss = _send_chunk(mine)
        send_seconds = time.perf_counter() - started
        assert sent == len(mine), (sent, len(mine))
        biggest_kb = biggest / 1024

        # The same digests again, pending again, in this one process: the serial figure.
        AlertDigest.objects.filter(pk__in=mine).update(
            status=AlertDigest.Status.PENDING, claimed_at=None, sent_at=None
        )
        AlertLog.objects.filter(digest_id__in=mine).update(status=AlertStatus.PENDING)
        backend.sent = 0
        started = time.perf_counter()
        outcomes = digests_send(mine)
        serial_seconds = time.perf_counter() - started
        assert all(o.status == "sent" for o in outcomes)
        assert backend.sent == len(outcomes) and not mail.outbox, backend.sent

        started = time.perf_counter()
        again = alert_scan(today=today, editor_ids=[editor.pk], enqueue=False)
        rescan_seconds = time.perf_counter() - started
        assert again.to_send == []
        worker_rss = max(common.peak_rss_mb(), workers_rss)
    finally:
        _cleanup(editor)
        settings.DEBUG, settings.EMAIL_BACKEND = debug, email_backend
    total_seconds = scan_seconds + send_seconds
    scale = due / FULL[1]
    reference = (
        f"raw SQL select of the {due} due rows: {raw_seconds:.3f} s "
        f"({connection.vendor}, {total} certificates)"
    )
    return [
        common.row("alerts.raw_due_select", raw_seconds, "s", 0, f"{due} rows, one SELECT"),
        common.row("alerts.scan", scan_seconds, "s", TARGET_SECONDS * scale, reference),
        common.row(
            "alerts.digests_send",
            send_seconds,
            "s",
            TARGET_SECONDS * scale,
            f"{len(mine)} digests, {sent_alerts} alerts, {processes} worker processes "
            "(Celery's default concurrency), locmem backend (outbox dropped)",
        ),
        common.row(
            "alerts.digests_send_one_process",
            serial_seconds,
            "s",
            0,
            "the same digests sent again by this one process (worker --concurrency=1)",
        ),
        common.row("alerts.scan_and_send", total_seconds, "s", TARGET_SECONDS * scale, reference),
        common.row(
            "alerts.scan_vs_raw_sql",
            scan_seconds / raw_seconds if raw_seconds else 0,
            "x",
            0,
            "scan time / raw due select time",
        ),
        common.row(
            "alerts.rescan_same_day", rescan_seconds, "s", TARGET_SECONDS * scale, "nothing new"
        ),
        common.row("alerts.biggest_digest", biggest_kb, "KB", 0, f"subscriber digest, {due} rows"),
        common.row(
            "alerts.worker_rss_peak",
            worker_rss,
            "MB",
            RSS_BUDGET_MB,
            "VmHWM of scan + send + rescan (this process and each send worker), reset "
            "after the set-up"
            if reset
            else "VmHWM of the whole process (no /proc/self/clear_refs: set-up included)",
            digits=1,
        ),
        common.row(
            "alerts.setup_rss_peak",
            setup_rss,
            "MB",
            0,
            f"set-up: {total} certificates in rows of {SETUP_BATCH}",
            digits=1,
        ),
    ]


def run(quick: bool) -> list[dict]:
    """Entry point for the bench aggregator."""
    return measure(*(QUICK if quick else FULL))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 certificates, 100 due")
    args = parser.parse_args()
    rows = run(args.quick)
    for row in rows:
        print(
            f"{row['name']:<26} {row['value']:>10} {row['unit']:<3} "
            f"target {row['target']} (ratio {row['ratio']}) — {row['reference']}"
        )


if __name__ == "__main__":
    main()
