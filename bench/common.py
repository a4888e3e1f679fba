"""Shared helpers of the benchmarks: Django set-up, result rows, the seeded data set, a
production-like gunicorn, a keep-alive HTTP client and memory readings.

Rows are plain dicts {name, value, unit, target, reference, ratio} (see bench/run):
`ratio` is value / reference when the reference is a number measured in the same run,
else value / target.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
# Secrets of the benchmark server only (throwaway databases): never a deployment's.
BENCH_SECRET_KEY = "bench-only-secret-key-never-used-in-production-0123456789"  # noqa: S105
BENCH_KEK = base64.b64encode(b"bench-only-key-encryption-key-32").decode()


# The benchmark modules of bench/, in the order bench/run runs them. Each exposes
# run(quick) -> rows; FILES maps a module name to its file when they differ.
MODULES = [
    "csr",
    "certificate_import",
    "officine_import",
    "finess",
    "coverage_campaign",
    "alert_scan",
    "api",
    "pages",
    "revocation",
    "metrics",
]
FILES = {"officine_import": "bench_officine_import", "finess": "finess_load"}


def setup_django() -> None:
    """Import path and settings for a bench run outside manage.py (dev settings unless set)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DEBUG", "1")
    # What this process seals (TOTP secrets, private keys) the DEBUG-off servers it starts
    # must open: both use the same key-encryption keys.
    os.environ.setdefault("KEY_ENCRYPTION_KEYS", BENCH_KEK)
    import django

    django.setup()


def check_migrated() -> None:
    """Stop with a clear message on an unmigrated database (benches run outside bench/run)."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise SystemExit(
            f"The database {connection.settings_dict['NAME']} is not migrated: "
            "run `DEBUG=1 .venv/bin/python manage.py migrate` first."
        )


def analyze(*, vacuum: bool = False) -> None:
    """What autovacuum does after bulk writes (statistics; with `vacuum`, the visibility map
    too), so the plans measured are the steady-state ones. PostgreSQL only; not timed."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        # VACUUM cannot run in a transaction (a caller's atomic block, a test).
        cursor.execute("VACUUM ANALYZE" if vacuum and not connection.in_atomic_block else "ANALYZE")


# --------------------------------------------------------------------------- rows


def row(
    name: str,
    value: float | None,
    unit: str,
    target: float | None = None,
    reference: float | str | None = None,
    ratio: float | None = None,
    digits: int = 3,
    ratio_digits: int = 3,
) -> dict[str, Any]:
    """A result row; the ratio defaults to value / reference (numeric) else value / target."""
    if ratio is None and value is not None:
        base = reference if isinstance(reference, int | float) else target
        ratio = value / base if base else None
    return {
        "name": name,
        "value": None if value is None else round(float(value), digits),
        "unit": unit,
        "target": None if target is None else round(float(target), digits),
        "reference": round(float(reference), digits)
        if isinstance(reference, int | float)
        else reference,
        "ratio": None if ratio is None else round(float(ratio), ratio_digits),
    }


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p95: fraction=0.95)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


# --------------------------------------------------------------------------- memory


def _status_kb(pid: int | str, key: str) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
    return float(match.group(1)) if match else float("nan")


def peak_rss_mb(pid: int | str = "self") -> float:
    """High-water mark of a process's resident memory (VmHWM), in MB."""
    return _status_kb(pid, "VmHWM") / 1024


def children(pid: int) -> list[int]:
    """Direct children of a process (e.g. the workers of a gunicorn master)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


# --------------------------------------------------------------------------- data set


@dataclass(frozen=True)
class ScaleData:
    """What the benchmarks need to know about the seeded data set."""

    prefix: str
    big_editor_id: int
    big_officines: int
    emails: dict[str, str]  # role -> e-mail of the big editor's users
    password: str
    totp_secret: str
    seeded_at: Any
    certificates: int = 0
    officines: int = 0
    editors: int = 0


QUICK_SPEC = {"editors": 2, "officines": 400, "certificates": 1_600, "big": 300}
QUICK_PREFIX = "Bench Rapide"


def ensure_scale_data(quick: bool, log: Any = print) -> ScaleData:
    """The seeded data set (full: seed_scale defaults; quick: a few hundred officines),
    seeded now when absent."""
    from bench.seeding import spec as seed
    from bench.seeding.scale import seed_scale
    from certificates.models import Certificate
    from officines.models import Officine
    from portal.models import Editor

    spec = (
        seed.ScaleSpec(prefix=QUICK_PREFIX, **QUICK_SPEC)
        if quick
        else seed.ScaleSpec(prefix=seed.SCALE_PREFIX)
    )
    if not Editor.objects.filter(name=seed.editor_name(1, spec.prefix)).exists():
        log(
            f"seeding {spec.editors} editors, {spec.officines} officines, "
            f"{spec.certificates} certificates ..."
        )
        report = seed_scale(spec, log=log)
        log(f"seeded in {report.seconds.get('total', 0):.0f} s")
    big = Editor.objects.get(name=seed.editor_name(1, spec.prefix))
    editors = Editor.objects.filter(name__startswith=spec.prefix + " ")
    return ScaleData(
        prefix=spec.prefix,
        big_editor_id=big.pk,
        big_officines=Officine.objects.of_editor(big.pk).count(),
        emails={role: seed.user_email(1, role, spec.prefix) for role in seed.ROLES},
        password=seed.SCALE_PASSWORD,
        totp_secret=seed.SCALE_TOTP_SECRET,
        seeded_at=big.created_at,
        certificates=Certificate.objects.filter(editor__in=editors).count(),
        officines=Officine.objects.filter(editor__in=editors).count(),
        editors=editors.count(),
    )


def fake_certificate(officine: Any, *, not_after: datetime, pem: str, **fields: Any) -> Any:
    """An unsaved certificate row for set-ups whose code under test never parses the PEM:
    random serial and hashes, three years of validity, trusted production chain."""
    from certificates.models import Certificate

    return Certificate(
        editor_id=officine.editor_id,
        officine=officine,
        serial=secrets.token_hex(8),
        not_before=not_after - timedelta(days=3 * 365),
        not_after=not_after,
        usable_until=fields.pop("usable_until", not_after),
        fingerprint_sha256=secrets.token_hex(32),
        public_key_sha256=secrets.token_hex(32),
        chain_status="trusted_production",
        pem=pem,
        **fields,
    )


def api_key_for(editor_id: int, scopes: Sequence[str] = ("read",)) -> str:
    """A fresh API key of the editor (made by `api_key_create`, audited), for API benches."""
    from portal.api.keys import api_key_create
    from portal.models import Editor

    _key, raw = api_key_create(
        editor=Editor.objects.get(pk=editor_id),
        name=f"bench run {time.strftime('%Y-%m-%d %H:%M:%S')}",
        scopes=list(scopes),
        actor=None,
    )
    return raw


# --------------------------------------------------------------------------- server


def database_url() -> str:
    """The URL of the database Django is connected to (test databases included)."""
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(s["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            raise RuntimeError("an in-memory SQLite database cannot be shared with a server")
        return f"sqlite:///{Path(name).resolve()}"
    user = s.get("USER") or ""
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}{port}/{s['NAME']}"


def server_shareable() -> bool:
    try:
        database_url()
    except RuntimeError:
        return False
    return True


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Production-like settings (DEBUG off) on the current database, over plain HTTP."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "TESTING", "DJANGO_SETTINGS_MODULE") and not k.startswith("PYTEST")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DATABASE_URL=database_url(),
        DEBUG="0",
        TESTING="0",
        SECRET_KEY=BENCH_SECRET_KEY,
        KEY_ENCRYPTION_KEYS=os.environ.get("KEY_ENCRYPTION_KEYS", BENCH_KEK),
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        EMAIL_URL="memorymail://",
        LOG_LEVEL="WARNING",
        CELERY_TASK_ALWAYS_EAGER="0",
    )
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Gunicorn:
    """`gunicorn portal.wsgi -w N` on a free loopback port, DEBUG off, on the current database.

    `static`: collect static files first (pages need the manifest; a JSON API does not).
    `preload`: load the app before forking, so every worker is ready when the first answers
    (concurrent load from the first request).
    """

    workers: int = 2
    env: dict[str, str] = field(default_factory=dict)
    static: bool = True
    preload: bool = False
    port: int = 0
    process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        env = server_env(self.env)
        if self.static:  # DEBUG off serves hashed static names from var/staticfiles
            subprocess.run(
                [PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"],
                cwd=ROOT,
                env=env,
                check=True,
            )
        self.port = free_port()
        (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
        self.log = open(ROOT / "var" / "bench" / "gunicorn.log", "ab")
        self.process = subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "portal.wsgi",
                "-w",
                str(self.workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "120",
                *(["--preload"] if self.preload else []),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=self.log,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited ({self.process.returncode}): var/bench/gunicorn.log"
                )
            with contextlib.suppress(OSError):
                status, _ms, _body = HttpClient("127.0.0.1", self.port).get("/healthz/auth")
                if status in (200, 302) and len(self.worker_pids()) >= self.workers:
                    return
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer within a minute")

    def worker_pids(self) -> list[int]:
        return children(self.process.pid) if self.process else []

    def workers_peak_rss_mb(self) -> float:
        return max((peak_rss_mb(pid) for pid in self.worker_pids()), default=float("nan"))

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


# --------------------------------------------------------------------------- HTTP client


class HttpClient:
    """One keep-alive HTTP/1.1 connection with a cookie jar (enough for Django sessions)."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        self.headers = dict(headers or {})
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPConnection(host, port, timeout=120)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, float, bytes]:
        """(status, milliseconds until the whole body was read, body)."""
        sent = dict(self.headers, **(headers or {}))
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.connection.request(method, path, body=body, headers=sent)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.connection.close()
                if attempt == 2:
                    raise
        elapsed = (time.perf_counter() - started) * 1000
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        self.last_location = response.getheader("Location", "")
        return response.status, elapsed, data

    def get(self, path: str) -> tuple[int, float, bytes]:
        return self.request("GET", path)

    def post_form(self, path: str, data: dict[str, str]) -> tuple[int, float, bytes]:
        return self.request(
            "POST",
            path,
            body=urlencode(data).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": f"http://{self.host}:{self.port}{path}",
            },
        )

    def close(self) -> None:
        self.connection.close()


_CSRF_RE = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def login(client: HttpClient, email: str, password: str, totp_secret: str) -> None:
    """The real login: allauth's e-mail + password form, then the TOTP step."""
    from portal.management.commands.demo_totp import current_code

    status, _ms, body = client.get("/accounts/login/")
    token = _CSRF_RE.search(body)
    if status != 200 or not token:
        raise RuntimeError(f"login page: HTTP {status}")
    status, _ms, body = client.post_form(
        "/accounts/login/",
        {"login": email, "password": password, "csrfmiddlewaretoken": token.group(1).decode()},
    )
    if status != 302 or "2fa" not in client.last_location:
        raise RuntimeError(f"password step refused for {email}: HTTP {status}")
    for attempt in (1, 2):
        status, _ms, body = client.get("/accounts/2fa/authenticate/")
        token = _CSRF_RE.search(body)
        if not token:
            raise RuntimeError(f"TOTP page: HTTP {status}")
        status, _ms, body = client.post_form(
            "/accounts/2fa/authenticate/",
            {"code": current_code(totp_secret), "csrfmiddlewaretoken": token.group(1).decode()},
        )
        if status == 302:
            return
        if attempt == 1:  # a code is accepted once: wait for the next 30 s window
            time.sleep(30.5 - time.time() % 30)
    raise RuntimeError(f"TOTP step refused for {email}: HTTP {status}")


def time_requests(
    client: HttpClient, path: str, count: int, warmup: int = 3, expect: int = 200
) -> list[float]:
    """Latencies (ms) of `count` sequential GETs on one keep-alive connection."""
    for _ in range(warmup):
        client.get(path)
    latencies = []
    for _ in range(count):
        status, ms, _body = client.get(path)
        if status != expect:
            raise RuntimeError(f"GET {path}: HTTP {status} (expected {expect})")
        latencies.append(ms)
    return latencies


# --------------------------------------------------------------------------- modules


def module_rows(module: str, quick: bool) -> list[dict[str, Any]]:
    """Rows of one benchmark module (Django set up by the caller)."""
    import importlib

    if module not in MODULES:
        raise ValueError(f"unknown benchmark module {module!r}")
    return importlib.import_module(f"bench.{FILES.get(module, module)}").run(quick)


def retire_editors(editor_ids: Sequence[int]) -> None:
    """Remove throwaway benchmark editors' data; the editors stay, deactivated, with their
    append-only audit events (bench.seeding.scale.retire_editors)."""
    from bench.seeding.scale import retire_editors as retire

    retire(list(editor_ids))
