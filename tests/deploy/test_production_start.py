"""A first deployment, done the README's way: DEBUG=0, PostgreSQL, Redis, gunicorn, a Celery
worker and beat, static files collected; then a new editor admin gets in and works.

The commands are read from the README's "Deployment without Docker" block and run from a copy
of the repository (no `.env`, no `var/`), with the production variables of the README's table.
The block's first two lines (virtualenv and `pip install`) are not re-run: the copy uses this
checkout's `.venv`, installed from the same `requirements.lock`. Long-running lines (ending in
`&`) are started as processes, on a free port instead of 8000.

Then, over HTTP as the TLS-terminating proxy forwards it (`X-Forwarded-Proto: https`): the
invitation printed by `create_editor` is accepted, the admin logs in and enrols TOTP from the
secret on the page, creates an officine and a server-mode request whose key and CSR the worker
generates, and logs out.

Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (skipped, saying so, without
them). Own database `portal_deploy_test`; Redis databases 13 (broker) and 14 (cache), used by
no other test.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bench.common import free_port
from portal.management.commands.demo_totp import current_code

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "portal_deploy_test"
PG = "postgres://postgres@127.0.0.1:5432"
BROKER = "redis://127.0.0.1:6379/13"
CACHE = "redis://127.0.0.1:6379/14"
DEPLOY_HEADING = "### Deployment without Docker"
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "var", ".env", "test-artifacts", "__pycache__", "*.pyc"
)
ADMIN_EMAIL = "admin@editeur-deploiement.fr"
PASSWORD = "Deploiement-Portail-2026!"
OFFICINE_FINESS = "760021832"


def _services_missing() -> str | None:
    for tool in ("psql", "redis-cli"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (PostgreSQL/Redis client)"
    pg = subprocess.run(
        ["psql", f"{PG}/postgres", "-tAc", "SELECT 1"], capture_output=True, timeout=10
    )
    if pg.returncode != 0:
        return "no PostgreSQL on 127.0.0.1:5432"
    redis = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True, timeout=10
    )
    if b"PONG" not in redis.stdout:
        return "no Redis on 127.0.0.1:6379"
    return None


def deployment_commands() -> list[str]:
    """The README's deployment block, one command per line, comments dropped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(DEPLOY_HEADING, 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands = []
    for line in block.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            commands.append(line)
    return commands


@pytest.fixture
def production(tmp_path):
    missing = _services_missing()
    if missing:
        pytest.skip(f"production start needs PostgreSQL and Redis: {missing}")
    copy = tmp_path / "release"
    shutil.copytree(ROOT, copy, ignore=COPY_IGNORE, symlinks=True)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    for command in ("dropdb --if-exists", "createdb"):
        subprocess.run(
            [*command.split(), "-h", "127.0.0.1", "-U", "postgres", DATABASE],
            check=True,
            capture_output=True,
        )
    for db in ("13", "14"):
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "-n", db, "flushdb"], check=True)
    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST", "DJANGO_", "CELERY_"))
        and key not in {"TESTING", "DATABASE_URL", "CACHE_URL", "SECRET_KEY", "KEY_ENCRYPTION_KEYS"}
    }
    environment.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        KEY_ENCRYPTION_KEYS=base64.b64encode(os.urandom(32)).decode(),
        DATABASE_URL=f"{PG}/{DATABASE}",
        CELERY_BROKER_URL=BROKER,
        CACHE_URL=CACHE,
        ALLOWED_HOSTS="127.0.0.1",
        SITE_URL=f"https://127.0.0.1:{port}",
        TRUST_ANCHORS_DIR=str(tmp_path / "trust-anchors"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    processes: list[tuple[str, subprocess.Popen, Path]] = []

    def run(command: str, *, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            shlex.split(command),
            cwd=copy,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        return result

    def start(command: str) -> None:
        command = command.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        log = tmp_path / f"{len(processes)}-{shlex.split(command)[0].rsplit('/', 1)[-1]}.log"
        process = subprocess.Popen(
            shlex.split(command),
            cwd=copy,
            env=environment,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        processes.append((command, process, log))

    def logs() -> str:
        return "\n".join(f"--- {cmd}\n{log.read_text()[-4000:]}" for cmd, _, log in processes)

    try:
        yield run, start, port, logs, copy
    finally:
        for _command, process, _log in processes:
            process.terminate()
        for _command, process, _log in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


class Browser:
    """HTTP as the TLS-terminating proxy forwards it: `X-Forwarded-Proto: https`, cookies
    (Secure ones included) kept by hand, CSRF token from the cookie, Referer of the page."""

    def __init__(self, port: int) -> None:
        import requests

        self.http = requests
        self.base = f"http://127.0.0.1:{port}"
        self.origin = f"https://127.0.0.1:{port}"
        self.cookies: dict[str, str] = {}

    def _send(self, method: str, path: str, **kwargs):
        headers = {
            "X-Forwarded-Proto": "https",
            "Accept-Language": "fr-FR,fr;q=0.9",
            "Referer": f"{self.origin}{path}",
            **kwargs.pop("headers", {}),
        }
        if method != "GET":
            headers.setdefault("X-CSRFToken", self.cookies.get("csrftoken", ""))
            headers.setdefault("Origin", self.origin)
        response = self.http.request(
            method,
            f"{self.base}{path}",
            headers=headers,
            cookies=self.cookies,
            allow_redirects=False,
            timeout=30,
            **kwargs,
        )
        for cookie in response.cookies:
            self.cookies[cookie.name] = cookie.value
        return response

    def get(self, path: str, **kwargs):
        return self._send("GET", path, **kwargs)

    def post(self, path: str, data=None, **kwargs):
        if data is not None:
            data = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **data}
        return self._send("POST", path, data=data, **kwargs)

    def follow(self, response):
        while response.status_code in (301, 302, 303):
            location = response.headers["Location"]
            location = re.sub(r"^https?://127\.0\.0\.1:\d+", "", location)
            response = self.get(location)
        return response


def _wait_for(port: int, logs, seconds: float = 60) -> None:
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(
                f"http://127.0.0.1:{port}/accounts/login/",
                headers={"X-Forwarded-Proto": "https"},
                timeout=20,
            )
            return
        except requests.RequestException:
            time.sleep(0.5)
    pytest.fail(f"gunicorn did not answer within {seconds} s\n{logs()}")


def test_documented_production_start(production):
    run, start, port, logs, _copy = production
    commands = deployment_commands()
    assert commands[0].startswith("python3 -m venv") and "pip install" in commands[1], commands
    steps = commands[2:]
    assert any("collectstatic" in c for c in steps) and any("gunicorn" in c for c in steps)
    assert any("worker" in c for c in steps) and any(" beat" in c for c in steps)

    # Before collectstatic, the deployment check and the WSGI entry point say what to run.
    early = run(".venv/bin/python manage.py check --deploy", check=False)
    assert early.returncode != 0 and "collectstatic --noinput" in early.stderr, early.stderr
    wsgi = run('.venv/bin/python -c "import portal.wsgi"', check=False)
    assert wsgi.returncode != 0 and "collectstatic --noinput" in wsgi.stderr, wsgi.stderr

    for command in steps:
        if command.endswith("&"):
            start(command[:-1].strip())
        else:
            run(command)
    _wait_for(port, logs)
    # Probes answer over plain HTTP (no proxy header), everything else goes to HTTPS.
    import requests

    plain = f"http://127.0.0.1:{port}"
    assert requests.get(f"{plain}/healthz/live", timeout=20).status_code == 200
    ready = requests.get(f"{plain}/healthz/ready", timeout=20)
    assert ready.status_code == 200, ready.text
    redirected = requests.get(f"{plain}/accounts/login/", allow_redirects=False, timeout=20)
    assert redirected.status_code == 301
    assert redirected.headers["Location"].startswith("https://")

    # Onboarding as the README says: create_editor prints the invitation link.
    onboard = run(
        f'.venv/bin/python manage.py create_editor "Éditeur Déploiement" --admin-email {ADMIN_EMAIL}'
    )
    invitation = re.search(r"https?://\S+/invitations/\S+/", onboard.stderr).group(0)
    invitation_path = re.sub(r"^https?://[^/]+", "", invitation)

    browser = Browser(port)
    page = browser.get(invitation_path)
    assert page.status_code == 200, page.text[:2000]
    accepted = browser.post(
        invitation_path, {"full_name": "Anne Admin", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert accepted.status_code == 302, accepted.text[:2000]

    # Log in (a fresh session), then TOTP enrolment from the secret on the page.
    browser = Browser(port)
    browser.get("/accounts/login/")
    login = browser.post("/accounts/login/", {"login": ADMIN_EMAIL, "password": PASSWORD})
    assert login.status_code == 302, login.text[:2000]
    enrolment = browser.follow(login)
    assert "/accounts/2fa/totp/activate/" in enrolment.url, enrolment.url
    stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]+\.css)"', enrolment.text)
    assert stylesheet, "hashed (collected) stylesheet not linked"
    assert browser.get(stylesheet.group(1)).status_code == 200
    # The badge the menu loads with the page does not touch the enrolment.
    badge = browser.get("/notifications/badge/", headers={"HX-Request": "true"})
    assert badge.status_code == 204
    secret = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"', enrolment.text)
    secret = secret or re.search(
        r'value="([A-Z2-7]{16,})"[^>]*id="authenticator_secret"', enrolment.text
    )
    assert secret, enrolment.text[:3000]
    if 30 - time.time() % 30 < 3:
        time.sleep(3.5)
    activated = browser.post(
        "/accounts/2fa/totp/activate/", {"code": current_code(secret.group(1))}
    )
    assert activated.status_code == 302, activated.text[:3000]
    dashboard = browser.get("/dashboard/")
    assert dashboard.status_code == 200, dashboard.text[:2000]

    # An officine, then a request whose key and CSR the worker generates.
    officine = browser.post(
        "/api/v1/officines/",
        json={
            "finess": OFFICINE_FINESS,
            "raison_sociale": "PHARMACIE DU DEPLOIEMENT",
            "city": "Rouen",
        },
    )
    assert officine.status_code == 201, officine.text
    created = browser.post(
        "/api/v1/certificate-requests/",
        json={
            "finess": OFFICINE_FINESS,
            "profile": "ORG_AUTH_CLI",
            "services": ["INSI"],
            "common_name": "INSI-AUTO",
            "key_mode": "server",
            "requester_email": "admin-tech@lgo.example",
        },
    )
    assert created.status_code == 202, created.text
    location = re.sub(r"^https?://[^/]+", "", created.headers["Location"])
    deadline = time.monotonic() + 90
    while True:
        state = browser.get(location).json()
        if state["status"] == "csr_ready":
            break
        assert time.monotonic() < deadline, (
            f"the worker did not generate the CSR: {state}\n{logs()}"
        )
        time.sleep(1)
    assert state["csr_pem"].startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert "PRIVATE" not in str(state)
    detail = browser.get(f"/certificates/requests/{state['id']}/")
    assert detail.status_code == 200 and "INSI-AUTO" in detail.text

    # Log out: the session is gone.
    logout = browser.post("/accounts/logout/", {})
    assert logout.status_code == 302
    after = browser.get("/dashboard/")
    assert after.status_code == 302 and "/accounts/login/" in after.headers["Location"]
