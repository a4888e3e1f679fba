"""Hostile PKCS#12 uploads: key-derivation costs refused before any derivation, parse time bounded.

Real files from `openssl pkcs12 -export` with their iteration counts rewritten
(`crafted_pkcs12`), real OpenSSL opening them. A 2**31-1 count used to keep a worker busy
for minutes (issue 12, finding 2).
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from certificates import derivation_guard, sandbox
from certificates import x509 as igc
from certificates.demo_pki import to_pem_bundle
from certificates.models import Certificate
from portal.models import AuditEvent
from tests.certificates import crafted_pkcs12 as crafted
from tests.helpers.api import bearer, make_keys, problem
from tests.helpers.tools import requires_openssl

PASSPHRASE = "phrase de passe solide"
HUGE = 2**31 - 1
pytestmark = requires_openssl


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def issued(pki, shared_key, tenant_a):
    """A certificate of tenant A's officine really issued by the demo PKI, with its key."""
    officine = tenant_a.officine
    _, cert = pki.issue_for(
        finess=officine.finess,
        raison_sociale=officine.raison_sociale,
        department="Rhône (69)",
        common_name="LGO",
        profile=igc.Profile.ORG_AUTH_CLI,
        key=shared_key,
    )
    return cert


@pytest.fixture
def exported(issued, shared_key, tmp_path) -> bytes:
    key_pem = shared_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return crafted.export(tmp_path, to_pem_bundle(issued), key_pem, PASSPHRASE)


@pytest.fixture
def keys_a(tenant_a):
    return make_keys(tenant_a)


@pytest.fixture
def derivations(monkeypatch):
    """Counts the openings that may derive a key (every one goes through the sandbox)."""
    calls: list[str] = []
    real = sandbox.run_bounded

    def counting(function, *args, seconds):
        calls.append(function.__name__)
        return real(function, *args, seconds=seconds)

    monkeypatch.setattr(sandbox, "run_bounded", counting)
    return calls


# --------------------------------------------------------------------------- the parser


@pytest.mark.parametrize(
    "counts",
    [
        pytest.param([crafted.MARKER, crafted.MARKER, HUGE], id="mac"),
        pytest.param([crafted.MARKER, HUGE, crafted.MARKER], id="key-bag"),
        pytest.param([HUGE, crafted.MARKER, crafted.MARKER], id="certificate-bag"),
        pytest.param([600_001, crafted.MARKER, crafted.MARKER], id="just-above-the-bound"),
        pytest.param([2**64 + 1, crafted.MARKER, crafted.MARKER], id="9-byte-integer"),
    ],
)
def test_costly_counts_are_refused_before_any_derivation(exported, counts, derivations):
    hostile = crafted.with_iterations(exported, counts)
    for password in (PASSPHRASE.encode(), None, b"wrong"):
        with pytest.raises(igc.X509Error) as refused:
            igc.load_bundle(hostile, password=password)
        assert refused.value.code == "too_costly"
    assert derivations == []  # nothing was handed to OpenSSL


def test_the_2_31_file_is_refused_at_once_in_a_fresh_process(exported, tmp_path):
    """The finding as reported: on the old code this process derives for minutes."""
    path = tmp_path / "hostile.p12"
    path.write_bytes(crafted.with_iterations(exported, [HUGE, HUGE, HUGE]))
    script = (
        "import sys; from certificates import x509\n"
        "try:\n"
        f"    x509.load_bundle(open({str(path)!r}, 'rb').read(), password=b'x')\n"
        "except x509.X509Error as exc:\n"
        "    print(exc.code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.stdout.strip() == "too_costly", done.stderr


def test_a_costly_bag_hidden_in_encrypted_content_is_stopped_by_the_time_limit(
    exported, issued, derivations
):
    """The guard cannot read inside an encrypted content info: the sandbox kills the parse."""
    hostile = crafted.nested_key_bag(exported, PASSPHRASE.encode(), HUGE, _der(issued))
    assert derivation_guard.pkcs12_cost(hostile).iterations == [1]  # all it can see
    with pytest.raises(igc.X509Error) as refused:
        igc.load_bundle(hostile, password=PASSPHRASE.encode(), time_limit=1.0)
    assert refused.value.code == "too_costly"
    assert derivations == ["_open_pkcs12"]


def test_a_hidden_bag_with_an_ordinary_count_still_opens(exported, issued, shared_key):
    """The same nested layout with its 3,001 rounds is a valid file: the sandbox opens it."""
    nested = crafted.nested_key_bag(exported, PASSPHRASE.encode(), crafted.MARKER, _der(issued))
    bundle = igc.load_bundle(nested, password=PASSPHRASE.encode())
    assert bundle.certificates == [issued]
    assert bundle.private_key.private_numbers() == shared_key.private_numbers()


def _der(certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(
    "variant", ["openssl-default", "legacy-rc2", "portal-export", "no-encryption", "ber-outer"]
)
def test_real_exports_still_open_with_one_derivation(
    variant, issued, shared_key, exported, tmp_path, derivations
):
    if variant == "openssl-default":
        data = exported
    elif variant == "legacy-rc2":  # OpenSSL 1.x default: RC2-40 certificates, 3DES key
        key_path = tmp_path / "k.pem"
        out = tmp_path / "legacy.p12"
        subprocess.run(
            [crafted.OPENSSL, "pkcs12", "-export", "-legacy", "-in", str(tmp_path / "c.pem"),
             "-inkey", str(key_path), "-passout", f"pass:{PASSPHRASE}", "-out", str(out)],
            check=True, capture_output=True,
        )  # fmt: skip
        data = out.read_bytes()
    elif variant == "portal-export":  # what the portal itself hands out (100,000 rounds)
        data = igc.build_pkcs12(
            private_key=shared_key,
            certificate=issued,
            chain=[],
            passphrase=PASSPHRASE.encode(),
            profile="modern",
        )
    elif variant == "no-encryption":
        data = pkcs12.serialize_key_and_certificates(
            b"lgo", shared_key, issued, None, serialization.NoEncryption()
        )
    else:
        data = crafted.indefinite(exported)
    password = None if variant == "no-encryption" else PASSPHRASE.encode()
    bundle = igc.load_bundle(data, password=password)
    assert bundle.certificates[0] == issued
    assert bundle.private_key.private_numbers() == shared_key.private_numbers()
    assert len(derivations) == 1


def test_no_passphrase_is_one_opening_not_two(exported, derivations):
    """Without a passphrase the file used to be opened twice (no password, then empty)."""
    with pytest.raises(igc.X509Error) as refused:
        igc.load_bundle(exported, password=None)
    assert refused.value.code == "bad_passphrase"
    assert derivations == ["_open_pkcs12"]


def test_encrypted_pem_key_with_a_costly_count_is_refused(issued, shared_key, tmp_path):
    key_path = tmp_path / "k.pem"
    key_path.write_bytes(
        shared_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    out = tmp_path / "enc.pem"
    subprocess.run(
        [crafted.OPENSSL, "pkcs8", "-topk8", "-in", str(key_path), "-passout",
         f"pass:{PASSPHRASE}", "-iter", str(crafted.MARKER), "-out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    block = out.read_bytes()
    info = base64.b64decode(b"".join(block.splitlines()[1:-1]))
    hostile_der = crafted.encode(crafted._rewrite(crafted.parse(info)[0], [HUGE]))
    hostile = (
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
        + base64.encodebytes(hostile_der)
        + b"-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    with pytest.raises(igc.X509Error) as refused:
        igc.load_bundle(hostile + to_pem_bundle(issued), password=PASSPHRASE.encode())
    assert refused.value.code == "too_costly"
    ordinary = igc.load_bundle(block + to_pem_bundle(issued), password=PASSPHRASE.encode())
    assert ordinary.private_key.private_numbers() == shared_key.private_numbers()


def test_bounds_on_the_whole_file():
    cost = derivation_guard.DerivationCost()
    for _ in range(4):
        cost.add(derivation_guard.MAX_ITERATIONS)
    with pytest.raises(derivation_guard.DerivationRefused):
        cost.add(1)  # total above MAX_TOTAL_ITERATIONS
    many = derivation_guard.DerivationCost()
    for _ in range(derivation_guard.MAX_ENCRYPTED_ITEMS):
        many.add(1)
    with pytest.raises(derivation_guard.DerivationRefused):
        many.add(1)


def test_sandbox_kills_a_runaway_parse():
    with pytest.raises(sandbox.TimeLimitExceeded):
        sandbox.run_bounded(_spin, seconds=0.5)
    assert sandbox.run_bounded(pow, 2, 10, seconds=5) == 1024


def _spin() -> None:
    while True:
        pass


# --------------------------------------------------------------------------- pages and API


@pytest.mark.django_db
def test_api_and_page_uploads_refuse_the_file_and_write_nothing(
    tenant_a, keys_a, client_for, exported, trust_anchors, derivations
):
    hostile = crafted.with_iterations(exported, [crafted.MARKER, HUGE, HUGE])
    for key in (keys_a.write, keys_a.officine):  # the officine-limited key opens it first
        upload = SimpleUploadedFile("evil.p12", hostile, content_type="application/x-pkcs12")
        response = bearer(key).post(
            "/api/v1/certificates/import/", {"file": upload, "password": PASSPHRASE}
        )
        body = problem(response, 422, "unprocessable")
        assert body["code"] == "too_costly"
    page = client_for(tenant_a.operator).post(
        reverse("certificates:import"),
        {"files": [SimpleUploadedFile("evil.p12", hostile)], "password": PASSPHRASE},
    )
    assert page.status_code == 200
    assert [r.code for r in page.context["results"]] == ["too_costly"]
    assert derivations == []
    assert not Certificate.objects.exists()
    assert AuditEvent.objects.filter(action="certificate.import", outcome="failure").count() == 3


@pytest.mark.django_db
def test_officine_limited_api_key_opens_a_pkcs12_once(
    tenant_a, keys_a, exported, trust_anchors, derivations
):
    upload = SimpleUploadedFile("ok.p12", exported, content_type="application/x-pkcs12")
    response = bearer(keys_a.officine).post(
        "/api/v1/certificates/import/", {"file": upload, "password": PASSPHRASE}
    )
    assert response.status_code == 201, response.content
    assert derivations == ["_open_pkcs12"]
