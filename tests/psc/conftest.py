"""A real OpenID Connect provider shaped like Pro Santé Connect, started per test module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.common import free_port
from tests.helpers.psc import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "portail-certificats-test"
CLIENT_SECRET = "a-test-client-secret-for-the-local-provider"


@dataclass
class Provider:
    url: str
    people_file: Path

    @property
    def issuer(self) -> str:
        return self.url + "/o"

    def set_people(self, people: dict) -> None:
        self.people_file.write_text(json.dumps(people), encoding="utf-8")

    def psc_settings(self) -> dict:
        return {
            "psc": {
                "APPS": [
                    {
                        "client_id": CLIENT_ID,
                        "secret": CLIENT_SECRET,
                        "settings": {
                            "server_url": self.issuer,
                            "oauth_pkce_enabled": True,
                            "uid_field": "SubjectNameID",
                        },
                    }
                ]
            }
        }

    def authorize(self, authorize_url: str, username: str) -> str:
        """Log in at the provider as `username` and return the redirect back to the portal."""
        self.browser = browser = requests.Session()
        response = browser.get(authorize_url, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text[:500]
        login_url = urljoin(self.url, response.headers["Location"])
        page = browser.get(login_url, timeout=10)
        token = browser.cookies["op_csrftoken"]
        next_url = parse_qs(urlparse(login_url).query)["next"][0]
        response = browser.post(
            login_url,
            data={
                "username": username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": token,
                "next": next_url,
            },
            headers={"Referer": page.url},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302, response.text[:500]
        response = browser.get(
            urljoin(self.url, response.headers["Location"]), allow_redirects=False, timeout=10
        )
        assert response.status_code == 302, response.text[:500]
        return response.headers["Location"]


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory):
    """django-oauth-toolkit's OIDC provider in its own process, its own key and database."""
    pytest.importorskip("oauth2_provider", reason="django-oauth-toolkit is a dev dependency")
    data = tmp_path_factory.mktemp("oidc-provider")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (data / "op-signing-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    people_file = data / "people.json"
    people_file.write_text("{}", encoding="utf-8")
    port = free_port()
    # Loopback IP redirect URIs match any port (RFC 8252): the browser test's live server.
    redirect_uris = " ".join(
        f"{base}/accounts/psc/login/callback/" for base in ("http://testserver", "http://127.0.0.1")
    )
    env = {
        **os.environ,
        "OP_DATA_DIR": str(data),
        "OP_PEOPLE": str(people_file),
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.psc.oidc_provider.settings",
    }
    log = (data / "provider.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.psc.oidc_provider.serve",
            str(port),
            CLIENT_ID,
            CLIENT_SECRET,
            redirect_uris,
            "http://testserver/accounts/login/ http://127.0.0.1/accounts/login/",
        ],
        cwd=str(ROOT),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/o/.well-known/openid-configuration", timeout=1).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("the OIDC provider did not start: " + (data / "provider.log").read_text())
    yield Provider(url=url, people_file=people_file)
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def psc_configured(settings, oidc_provider):
    settings.SOCIALACCOUNT_PROVIDERS = oidc_provider.psc_settings()
    settings.CSP_FORM_ACTION_ORIGINS = [oidc_provider.url]
    return oidc_provider
