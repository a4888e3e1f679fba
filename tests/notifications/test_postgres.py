"""Against the real services: two processes scanning at once on PostgreSQL send each digest
once, and a real Celery worker on the Redis broker delivers the mail (not eager mode).

Both need PostgreSQL (processes must see each other's committed rows); they are skipped on
SQLite. Run with e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_alerts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from notifications.models import AlertDigest, AlertLog, AlertStatus
from tests.factories import OfficineFactory
from tests.helpers.notifications import TODAY, expiring_in

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("ALERTS_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: separate processes must share the committed test database",
    ),
]


def database_url() -> str:
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    host = s["HOST"] or "127.0.0.1"
    port = s["PORT"] or 5432
    return f"postgres://{auth}@{host}:{port}/{s['NAME']}"


def child_env(mail_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "EMAIL_URL": f"filemail:///{mail_dir}",
        "CONN_MAX_AGE": "0",
        "TESTING": "1",
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    env.pop("DEBUG", None)
    return env


def messages_in(directory: Path) -> list[str]:
    """The messages written by Django's file backend (one file per connection)."""
    found = []
    for path in sorted(directory.glob("*.log")):
        text = path.read_text()
        found += [m for m in text.split("-" * 79) if "Message-ID:" in m]
    return found


def message_ids(messages: list[str]) -> list[str]:
    return [re.search(r"^Message-ID: (\S+)", m, re.M).group(1) for m in messages]


RACER = """
import os, sys, time
from pathlib import Path
import django
django.setup()
from django.core.management import call_command
go = Path(sys.argv[1])
Path(sys.argv[3]).touch()  # ready
while not go.exists():
    time.sleep(0.005)
call_command("send_renewal_alerts", "--date", sys.argv[2])
"""


def race(tmp_path: Path, round_: int) -> tuple[list[str], int]:
    """Start two processes, release them at the same instant; every mail sent, and the sum
    of the digests each process reports having sent."""
    go = tmp_path / f"go-{round_}"
    processes, dirs, ready = [], [], []
    for n in range(2):
        mail_dir = tmp_path / f"mail-{round_}-{n}"
        mail_dir.mkdir()
        dirs.append(mail_dir)
        ready.append(tmp_path / f"ready-{round_}-{n}")
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", RACER, str(go), TODAY.isoformat(), str(ready[-1])],
                cwd=ROOT,
                env=child_env(mail_dir),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    reported = 0
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, out + err
        reported += int(re.search(r"Digests sent: (\d+)", out).group(1))
    return [m for d in dirs for m in messages_in(d)], reported


@pytest.mark.slow
def test_two_concurrent_scans_send_each_digest_once(tenant_a, make_certificate, tmp_path):

    officines = [tenant_a.officine] + [
        OfficineFactory(editor=tenant_a.editor, technical_administrator=tenant_a.administrator)
        for _ in range(9)
    ]
    for index, officine in enumerate(officines):
        for days in (7, 15, -3 - index):
            make_certificate(
                officine, common_name=f"LGO-{index}-{days}", not_after=expiring_in(days)
            )
    # One digest for the shared technical administrator, one per officine mailbox.
    expected_recipients = {tenant_a.administrator.email} | {o.notification_email for o in officines}

    sent, reported = race(tmp_path, 1)
    assert len(sent) == len(expected_recipients) == 11
    assert reported == 11  # split between the two processes in any way, never more
    assert len(set(message_ids(sent))) == 11
    recipients = [re.search(r"^To: (\S+)", m, re.M).group(1) for m in sent]
    assert sorted(recipients) == sorted(expected_recipients)
    assert AlertDigest.objects.filter(status="sent").count() == 11
    assert not AlertLog.objects.filter(status=AlertStatus.PENDING).exists()
    assert AlertLog.objects.filter(status=AlertStatus.SENT).count() == 30 * 2
    # The same day again, twice at once: nothing new.
    assert race(tmp_path, 2) == ([], 0)


@pytest.fixture
def redis_broker():
    redis = pytest.importorskip("redis")
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc}")
    client.flushdb()  # db reserved for these tests: no stale task from an earlier run
    yield REDIS_URL
    client.flushdb()


@pytest.fixture
def worker(transactional_db, redis_broker, tmp_path):
    """`celery -A portal worker` on the test database and the Redis broker, mail to files."""
    mail_dir = tmp_path / "worker-mail"
    mail_dir.mkdir()
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "portal",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--hostname=alerts-test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=child_env(mail_dir, CELERY_BROKER_URL=redis_broker),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield mail_dir, tmp_path / "worker.log"
    finally:
        process.terminate()  # warm shutdown: the solo pool has nothing running by now
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.slow
def test_real_worker_on_redis_sends_the_digest(tenant_a, make_certificate, worker):
    from celery import Celery

    mail_dir, log_path = worker
    certificate = make_certificate(
        tenant_a.officine, common_name="INSI-AUTO", services=["INSI"], not_after=expiring_in(7)
    )
    sender = Celery("alerts-test-sender", broker=REDIS_URL, set_as_current=False)
    sender.conf.task_serializer = "json"
    # The beat's task, by name, through the real broker: the worker scans, enqueues the
    # per-recipient digest tasks through the outbox, then runs them.
    sender.send_task("notifications.tasks.daily_scan", kwargs={"today": TODAY.isoformat()})
    deadline = time.monotonic() + 90
    sent: list[str] = []
    while time.monotonic() < deadline and len(sent) < 2:
        time.sleep(0.3)
        sent = messages_in(mail_dir)
    assert len(sent) == 2, log_path.read_text()[-3000:]
    to_ta = [m for m in sent if f"To: {tenant_a.administrator.email}" in m]
    assert len(to_ta) == 1
    # French by default (a bare address): the date in French order, whatever the wording.
    assert re.search(r"^Subject: .*11/01/2027", to_ta[0], re.M)
    assert f"/certificates/{certificate.pk}/" in to_ta[0]
    digest = AlertDigest.objects.get(recipient=tenant_a.administrator.email)
    assert digest.status == "sent" and digest.message_id in to_ta[0]
    # Claimed by a Celery task (hostname:task id), not by this test process.
    assert re.fullmatch(r".+:[0-9a-f-]{36}", digest.claimed_by), digest.claimed_by
