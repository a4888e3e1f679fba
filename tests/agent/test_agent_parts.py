"""The agent's parts on their own: keys, CSR subject, chain check, atomic install, zipapp."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from portail_agent import crypto, install
from portail_agent.config import AgentError, Config, Store
from portail_agent.runner import EXIT_CHANGED, EXIT_FAILED, EXIT_NOTHING, Outcome

from certificates import x509 as igc
from certificates.demo_pki import DemoPKI
from tests.agent.helpers import AGENT_DIR, build_pyz

SUBJECT = {
    "C": "FR",
    "ST": "Rhône (69)",
    "O": "PHARMACIE DE LA PLACE",
    "OU": "1690001003",
    "CN": "INSI-AUTO",
}


@pytest.fixture(scope="module")
def pki() -> DemoPKI:
    return DemoPKI.create()


def test_key_is_made_once_per_request_and_private(tmp_path):
    store = Store(str(tmp_path))
    path = store.key_path(7)
    first = crypto.load_or_create_key(path)
    again = crypto.load_or_create_key(path)  # a run killed before the upload reuses it
    assert first.private_numbers() == again.private_numbers()
    assert first.key_size == 2048
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Same key, same subject: the same CSR bytes (RSA PKCS#1 v1.5 is deterministic).
    assert crypto.build_csr(first, SUBJECT) == crypto.build_csr(again, SUBJECT)


def test_csr_carries_exactly_the_expected_subject_and_openssl_reads_it(tmp_path):
    key = crypto.load_or_create_key(tmp_path / "k.pem")
    pem = crypto.build_csr(key, SUBJECT)
    csr = x509.load_pem_x509_csr(pem)
    assert csr.is_signature_valid
    assert [(a.oid, a.value) for a in csr.subject] == [
        (NameOID.COUNTRY_NAME, "FR"),
        (NameOID.STATE_OR_PROVINCE_NAME, "Rhône (69)"),
        (NameOID.ORGANIZATION_NAME, "PHARMACIE DE LA PLACE"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "1690001003"),
        (NameOID.COMMON_NAME, "INSI-AUTO"),
    ]
    # The portal's own CSR checks accept it.
    info = igc.load_csr(pem)
    assert info.common_name == "INSI-AUTO" and info.key_size == 2048
    (tmp_path / "r.csr").write_bytes(pem)
    out = subprocess.run(
        ["openssl", "req", "-in", str(tmp_path / "r.csr"), "-noout", "-verify"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


def test_csr_refused_when_the_request_does_not_say_its_subject(tmp_path):
    key = crypto.load_or_create_key(tmp_path / "k.pem")
    with pytest.raises(AgentError, match="OU"):
        crypto.build_csr(key, {k: v for k, v in SUBJECT.items() if k != "OU"})


def test_chain_check_accepts_the_real_chain_and_refuses_others(pki, tmp_path):
    key = crypto.load_or_create_key(tmp_path / "k.pem")
    leaf = pki.issue(csr_pem=crypto.build_csr(key, SUBJECT), profile=igc.Profile.ORG_AUTH_CLI)
    chain = pki.chain_for()
    crypto.check_chain(leaf, chain)
    crypto.check_chain(leaf, chain, anchors=[pki.root.certificate])
    assert crypto.key_matches(key, leaf)

    with pytest.raises(AgentError, match="incomplete chain"):
        crypto.check_chain(leaf, chain[1:])  # intermediate missing
    with pytest.raises(AgentError, match="trust anchors"):
        crypto.check_chain(leaf, chain, anchors=[pki.test_root.certificate])
    # An intermediate of the same name but another key: the signature check fails.
    other = pki.chain_for(ca="other")
    with pytest.raises(AgentError):
        crypto.check_chain(leaf, [other[0], chain[1]])
    stranger = crypto.load_or_create_key(tmp_path / "other.pem")
    assert not crypto.key_matches(stranger, leaf)


def test_install_swaps_all_files_and_keeps_the_previous_version(tmp_path):
    target = tmp_path / "certs" / "INSI-AUTO"
    install.install_files(target, {"cert.pem": b"one", "key.pem": b"k1"})
    install.install_files(target, {"cert.pem": b"two", "key.pem": b"k2"})
    assert (target / "cert.pem").read_bytes() == b"two"
    assert (target / "previous" / "cert.pem").read_bytes() == b"one"
    if os.name == "posix":
        assert stat.S_IMODE((target / "key.pem").stat().st_mode) == 0o600
    install.rollback(target)
    assert (target / "cert.pem").read_bytes() == b"one"
    assert (target / "key.pem").read_bytes() == b"k1"


def test_install_recovers_from_a_run_killed_mid_swap(tmp_path):
    target = tmp_path / "certs" / "X"
    install.install_files(target, {"cert.pem": b"old"})
    # Killed after the old folder was removed, before the staging folder was renamed.
    staging = target.with_name("X.staging")
    staging.mkdir()
    (staging / "cert.pem").write_bytes(b"new")
    import shutil

    shutil.rmtree(target)
    install.recover(target)
    assert (target / "cert.pem").read_bytes() == b"new"
    # Killed while writing the staging folder: the current set stays, staging is dropped.
    staging.mkdir()
    (staging / "cert.pem").write_bytes(b"partial")
    install.recover(target)
    assert not staging.exists() and (target / "cert.pem").read_bytes() == b"new"


def test_deploy_hook_failure_is_reported(tmp_path):
    config = Config(url="https://x", key="k", deploy_hook="exit 3")
    assert "exited with 3" in install.run_hook(config, tmp_path, {})
    config.deploy_hook = "true"
    assert install.run_hook(config, tmp_path, {}) is None


def test_config_is_owner_only_and_exit_codes_are_distinct(tmp_path):
    store = Store(str(tmp_path / "agent"))
    path = store.save_config(Config(url="https://portail.example", key="lgo_secret"))
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.load_config().key == "lgo_secret"
    assert Outcome().exit_code == EXIT_NOTHING
    assert Outcome(done=["x"]).exit_code == EXIT_CHANGED
    assert Outcome(failed=["x"]).exit_code == EXIT_FAILED
    assert Outcome(done=["x"], failed=["y"]).exit_code == EXIT_CHANGED | EXIT_FAILED


def test_not_enrolled_is_a_one_line_error(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "portail_agent", "run", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(AGENT_DIR / "src")},
    )
    assert out.returncode == EXIT_FAILED
    assert out.stderr.strip().startswith("portail-agent: error: not enrolled")
    assert "Traceback" not in out.stderr


def test_zipapp_runs_help_in_a_clean_virtualenv(tmp_path):
    """The single file runs where neither the portal's dependencies nor cryptography exist."""
    pyz = build_pyz(tmp_path / "portail-agent.pyz")
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True
    )
    python = tmp_path / "venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    probe = subprocess.run(
        [str(python), "-c", "import cryptography"], capture_output=True, text=True
    )
    assert probe.returncode != 0  # truly clean
    out = subprocess.run([str(python), str(pyz), "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for command in ("enroll", "run", "status", "rollback"):
        assert command in out.stdout
    out = subprocess.run(
        [str(python), str(pyz), "status", "--json", "--dir", str(tmp_path / "none")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "not enrolled" in out.stderr


def _clean_venv(path: Path) -> Path:
    """A virtualenv with nothing installed, on the oldest supported Python found here."""
    candidates = [Path("/root/.pyenv/versions/3.9.18/bin/python"), Path(sys.executable)]
    base = next(str(p) for p in candidates if p.exists())
    subprocess.run([base, "-m", "venv", "--without-pip", str(path)], check=True)
    return path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@pytest.mark.slow
def test_bundled_zipapp_imports_cryptography_from_itself(tmp_path):
    """`--bundle` puts cryptography inside: `run` gets as far as the network in a clean venv
    (portal down here: one-line error, exit 4, no ImportError, nothing written)."""
    python = _clean_venv(tmp_path / "venv")
    version = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        pyz = build_pyz(tmp_path / "bundled.pyz", "--bundle", "--python-version", version)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"no wheel of cryptography reachable for Python {version}: {exc.stderr!r}")
    store = Store(str(tmp_path / "agent"))
    store.save_config(Config(url="http://127.0.0.1:1", key="lgo_x", finess="690001003"))
    out = subprocess.run(
        [str(python), str(pyz), "run", "--dir", str(store.dir)],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert out.returncode == EXIT_FAILED, out.stderr
    assert "portal unreachable" in out.stderr and "Traceback" not in out.stderr
    assert not store.keys_dir.exists()
    extracted = list((tmp_path / "cache" / "portail-agent").iterdir())
    assert [p.name.startswith("vendor-") for p in extracted] == [True]
