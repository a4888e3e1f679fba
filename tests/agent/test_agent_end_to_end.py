"""The agent against the real thing: gunicorn serving the portal, a Celery worker on Redis,
PostgreSQL, the demo IGC Santé CA playing ANS through `manage.py demo_issue`, and
`portail-agent` (the zipapp) run as a separate process, as a pharmacy would run it.

A renewal campaign started through the API creates a request awaiting its CSR; the agent makes
the key on "the pharmacy's machine" (a temporary folder) and uploads only the CSR; the
technical administrator's order is played by `mark-submitted` + `demo_issue` + an import;
the agent then installs the certificate (files checked with `openssl`) and reports it, and
the portal shows it installed with the coverage covered. Then the real world: the agent killed
between making the key and uploading the CSR (a TCP proxy that holds the upload), and the
portal down when a certificate waits to be installed. Finally the database dump, the logs and
the Celery messages are searched for the agent's private keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.request import Request, urlopen

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from bench.common import free_port
from certificates.demo_pki import DemoPKI
from certificates.models import CertificateRequest
from portal.api.keys import api_key_create
from tests.agent.helpers import build_pyz
from tests.helpers.certificates import certificate_row
from tests.helpers.secrets import leaks
from tests.helpers.tenants import make_tenant
from tests.helpers.tools import requires_postgres
from tests.helpers.workers import ROOT, Worker, child_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), requires_postgres]

REDIS_URL = os.environ.get("AGENT_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
EXIT_NOTHING, EXIT_CHANGED, EXIT_FAILED = 0, 2, 4


class Portal:
    """gunicorn on a free port, DEBUG on (API only: no static manifest needed)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log_path = env, log
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [GUNICORN, "portal.wsgi", "-w", "2", "-b", f"127.0.0.1:{self.port}"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("gunicorn did not start:\n" + self.log_path.read_text()[-3000:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


class HoldingProxy:
    """A TCP proxy to the portal that holds (never forwards) the first CSR upload: the agent
    is then killed exactly between making its key and uploading the CSR."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.held = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        first = client.recv(65536)
        if first.startswith(b"POST ") and b"/csr/ " in first.split(b"\r\n", 1)[0]:
            self.held.set()  # keep the connection open, answer nothing
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        upstream.sendall(first)

        def pipe(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (src, dst):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)

    def close(self) -> None:
        self.server.close()


class Api:
    def __init__(self, base: str, key: str) -> None:
        self.base, self.key = base + "/api/v1/", key

    def call(self, method: str, path: str, payload=None, *, raw: bytes | None = None, ctype=None):
        body = raw if raw is not None else (json.dumps(payload).encode() if payload else None)
        request = Request(self.base + path, data=body, method=method)  # noqa: S310 - test server
        request.add_header("Authorization", f"Bearer {self.key}")
        request.add_header("Content-Type", ctype or "application/json")
        with urlopen(request, timeout=30) as response:  # noqa: S310 - local test server
            data = response.read()
        return json.loads(data) if data and data[:1] in (b"{", b"[") else data


@pytest.fixture
def stack(tmp_path):
    """PostgreSQL (the test database), gunicorn, one Celery worker on Redis db 11."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    anchors = tmp_path / "trust-anchors"
    pki = DemoPKI.load_or_create(ROOT / "var" / "demo-pki")  # the CA `demo_issue` signs with
    pki.write_trust_anchors(anchors)
    env = child_env(
        CELERY_BROKER_URL=REDIS_URL,
        TRUST_ANCHORS_DIR=str(anchors),
        CERTIFICATE_KEY_ALGORITHM="RSA",
        LOG_LEVEL="DEBUG",
    )
    env["DEBUG"] = "1"  # the demo CA (`demo_issue`) exists only in DEBUG; child_env drops it
    portal = Portal(env, tmp_path / "gunicorn.log")
    portal.start()
    worker = Worker(tmp_path, env)
    worker.start()
    yield {"portal": portal, "worker": worker, "env": env, "pki": pki, "redis": client}
    worker.stop()
    portal.stop()
    client.flushdb()


def agent(pyz: Path, directory: Path, *args: str, env_extra=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(pyz), *args, "--dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env_extra or {})},
    )


def wait_for(predicate, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def awaiting(api: Api) -> list[dict]:
    return api.call("GET", "certificate-requests/?status=awaiting_csr")["results"]


def test_agent_renews_installs_and_reports_without_the_key_leaving(stack, tmp_path):
    portal, pki = stack["portal"], stack["pki"]
    tenant = make_tenant("EditeurAgent")
    officine = tenant.officine  # mode « éditeur »: the editor runs the campaign
    old_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    old = certificate_row(
        pki,
        old_key,
        officine,
        common_name="INSI-AUTO",
        services=("INSI",),
        not_after=timezone.now() + timedelta(days=20),
    )
    _, editor_key = api_key_create(
        editor=tenant.editor, name="Back-office", scopes="read,write", actor=tenant.admin
    )
    _, agent_key = api_key_create(
        editor=tenant.editor,
        name="LGO pharmacie",
        scopes="read,write",
        officine=officine,
        actor=tenant.admin,
    )
    editor_api = Api(portal.url, editor_key)
    pyz = build_pyz(tmp_path / "portail-agent.pyz")
    home = tmp_path / "pharmacie"

    # Enrolment refuses an editor-wide key, accepts the officine's own.
    refused = agent(pyz, home, "enroll", "--url", portal.url, "--key", editor_key)
    assert refused.returncode == 1 and "limited to one officine" in refused.stderr
    enrolled = agent(pyz, home, "enroll", "--url", portal.url, "--key", agent_key)
    assert enrolled.returncode == 0, enrolled.stderr
    assert oct((home / "config.json").stat().st_mode & 0o777) == "0o600"

    # Nothing awaits the agent yet.
    first = agent(pyz, home, "run")
    assert first.returncode == EXIT_NOTHING, first.stdout + first.stderr

    # A renewal campaign in the portal: the portal never held this key, so the renewal
    # waits for the CSR of the machine where the certificate is installed.
    campaign = editor_api.call(
        "POST",
        "campaigns/",
        {
            "name": "Renouvellement INSi",
            "requester_email": "admin@lgo.fr",
            "certificate_ids": [old.pk],
        },
    )
    wait_for(
        lambda: editor_api.call("GET", f"campaigns/{campaign['id']}/")["status"] == "done",
        "the campaign to finish on the worker",
    )
    (request,) = awaiting(editor_api)
    assert request["renews"] == old.pk

    # Agent pass 1: key made here, CSR uploaded.
    run = agent(pyz, home, "run")
    assert run.returncode == EXIT_CHANGED, run.stdout + run.stderr
    keys = list((home / "keys").iterdir())
    assert [k.name for k in keys] == [f"request-{request['id']}.key.pem"]
    assert oct(keys[0].stat().st_mode & 0o777) == "0o600"
    local_key = serialization.load_pem_private_key(keys[0].read_bytes(), None)
    fresh = CertificateRequest.objects.get(pk=request["id"])
    assert fresh.status == "csr_ready" and not fresh.encrypted_private_key
    csr = x509.load_pem_x509_csr(fresh.csr_pem.encode())
    assert csr.public_key().public_numbers() == local_key.public_key().public_numbers()

    # The technical administrator orders it on the ANS platform (played by demo_issue).
    editor_api.call("POST", f"certificate-requests/{request['id']}/mark-submitted/")
    issued = tmp_path / "issued.pem"
    played = subprocess.run(
        [sys.executable, "manage.py", "demo_issue", str(request["id"]), "-o", str(issued)],
        cwd=ROOT,
        env=stack["env"],
        capture_output=True,
        text=True,
    )
    assert played.returncode == 0, played.stderr[-2000:]
    imported = editor_api.call(
        "POST",
        f"certificates/import/?request={request['id']}",
        raw=issued.read_bytes(),
        ctype="application/x-pem-file",
    )
    cert_id = imported["results"][0]["certificate"]["id"]

    # The portal goes down: the agent says so in one line and installs nothing.
    portal.stop()
    down = agent(pyz, home, "run")
    assert down.returncode == EXIT_FAILED
    assert down.stderr.strip().count("\n") == 0 and "portal unreachable" in down.stderr
    assert not (home / "certs").exists()
    portal.start()

    # Agent pass 2: installed, checked, reported.
    run = agent(pyz, home, "run")
    assert run.returncode == EXIT_CHANGED, run.stdout + run.stderr
    folder = home / "certs" / "INSI-AUTO"
    for name in ("key.pem", "cert.pem", "chain.pem", "fullchain.pem"):
        assert (folder / name).exists(), name
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(folder / "chain.pem"), str(folder / "cert.pem")],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    moduli = [
        subprocess.run(
            ["openssl", kind, "-noout", "-modulus", "-in", str(folder / name)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for kind, name in (("x509", "cert.pem"), ("rsa", "key.pem"))
    ]
    assert moduli[0] == moduli[1]

    certificate = editor_api.call("GET", f"certificates/{cert_id}/")
    assert len(certificate["installations"]) == 1
    assert certificate["installations"][0]["reported_by"].startswith("portail-agent")
    coverage = editor_api.call("GET", f"officines/{officine.finess}/")["coverage"]
    assert coverage["INSI"] == "covered", coverage

    # Idempotent: a third pass does nothing, installs nothing twice.
    again = agent(pyz, home, "run")
    assert again.returncode == EXIT_NOTHING, again.stdout + again.stderr
    assert not (folder / "previous").exists()
    assert len(editor_api.call("GET", f"certificates/{cert_id}/")["installations"]) == 1

    status = agent(pyz, home, "status", "--json")
    assert status.returncode == 0, status.stderr
    listed = {c["id"]: c for c in json.loads(status.stdout)["certificates"]}
    assert listed[cert_id]["installed_here"] is True

    # Killed between key and upload: a proxy holds the upload, the agent is SIGKILLed.
    campaign = editor_api.call(
        "POST",
        "campaigns/",
        {
            "name": "Renouvellement 2",
            "requester_email": "admin@lgo.fr",
            "certificate_ids": [cert_id],
        },
    )
    wait_for(
        lambda: editor_api.call("GET", f"campaigns/{campaign['id']}/")["status"] == "done",
        "the second campaign",
    )
    (second,) = awaiting(editor_api)
    proxy = HoldingProxy(portal.port)
    config = json.loads((home / "config.json").read_text())
    config["url"] = f"http://127.0.0.1:{proxy.port}"
    (home / "config.json").write_text(json.dumps(config))
    process = subprocess.Popen([sys.executable, str(pyz), "run", "--dir", str(home)])
    assert proxy.held.wait(60), "the agent never tried to upload"
    key_file = home / "keys" / f"request-{second['id']}.key.pem"
    assert key_file.exists()
    made = key_file.read_bytes()
    process.send_signal(signal.SIGKILL)
    process.wait()
    proxy.close()
    assert CertificateRequest.objects.get(pk=second["id"]).status == "awaiting_csr"

    config["url"] = portal.url
    (home / "config.json").write_text(json.dumps(config))
    resumed = agent(pyz, home, "run")
    assert resumed.returncode == EXIT_CHANGED, resumed.stdout + resumed.stderr
    assert key_file.read_bytes() == made  # the same key, no second one
    assert len(list((home / "keys").iterdir())) == 2  # one per request, no orphan
    uploaded = CertificateRequest.objects.get(pk=second["id"])
    reused = serialization.load_pem_private_key(made, None)
    assert (
        x509.load_pem_x509_csr(uploaded.csr_pem.encode()).public_key().public_numbers()
        == reused.public_key().public_numbers()
    )

    # No trace of the pharmacy's keys in the portal: database dump, logs, Celery messages.
    stack["worker"].stop()
    portal.stop()
    dump = subprocess.run(
        ["pg_dump", stack["env"]["DATABASE_URL"]], capture_output=True, text=True, check=True
    ).stdout
    logs = "\n".join(p.read_text() for p in tmp_path.glob("*.log"))
    broker = "\n".join(repr(stack["redis"].dump(k)) for k in stack["redis"].scan_iter(count=1000))
    found = leaks(
        {"database dump": dump, "logs": logs, "celery messages": broker},
        {"agent key 1": local_key, "agent key 2": reused},
    )
    assert found == []
