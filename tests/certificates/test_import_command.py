"""manage.py import_certificates: folders, JSON output, officine creation, usage errors."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from certificates.demo_pki import to_pem_bundle
from certificates.models import Certificate
from officines.models import Officine
from portal.models import AuditEvent
from tests.factories import OfficineFactory
from tests.helpers.imports import PASSPHRASE, encode, issue


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _no_passphrase_in_the_environment(monkeypatch):
    monkeypatch.delenv("IMPORT_PKCS12_PASSWORD", raising=False)


def run(*args: str) -> str:
    out = StringIO()
    call_command("import_certificates", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def folder(tmp_path, tenant_a, tenant_b, pki, shared_key, trust_anchors):
    """A tree as found on a pharmacy server: nested folders, formats mixed, junk, hidden files."""
    root = tmp_path / "certs"
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / ".git").mkdir()
    chain = pki.chain_for("production")
    officines = OfficineFactory.create_batch(3, editor=tenant_a.editor)
    (root / "a.pem").write_bytes(encode("pem_chain", issue(pki, officines[0], shared_key), chain))
    (root / "nested" / "b.der").write_bytes(encode("der", issue(pki, officines[1], shared_key), []))
    (root / "nested" / "deeper" / "c.p7b").write_bytes(
        encode("p7b_der", issue(pki, officines[2], shared_key), chain)
    )
    (root / "nested" / "junk.txt").write_bytes(b"not a certificate at all")
    foreign = issue(pki, tenant_b.officine, shared_key)
    (root / "z-foreign.pem").write_bytes(to_pem_bundle(foreign))
    (root / ".hidden.pem").write_bytes(to_pem_bundle(issue(pki, officines[0], shared_key)))
    (root / ".git" / "d.pem").write_bytes(to_pem_bundle(issue(pki, officines[1], shared_key)))
    return root


def test_json_output_for_a_folder(folder, tenant_a):
    rows = json.loads(run("--editor", str(tenant_a.editor.pk), "--json", str(folder)))

    assert [(row["file"].removeprefix(str(folder)), row["result"]) for row in rows] == [
        ("/a.pem", "imported"),
        ("/nested/b.der", "imported"),
        ("/nested/deeper/c.p7b", "imported"),
        ("/nested/junk.txt", "rejected"),
        ("/z-foreign.pem", "rejected"),
    ]
    for row in rows:
        assert {"file", "result", "reason", "certificate"} <= set(row)
    imported = rows[0]["certificate"]
    stored = Certificate.objects.get(pk=imported["id"])
    assert imported["fingerprint_sha256"] == stored.fingerprint_sha256
    assert imported["finess"] == stored.officine.finess
    assert imported["chain_status"] == "trusted_production" and imported["status"] == "valid"
    assert (rows[3]["certificate"], rows[3]["code"]) == (None, "not_a_certificate")
    assert rows[4]["code"] == "unknown_officine"
    assert Certificate.objects.of_editor(tenant_a.editor.pk).count() == 3
    event = AuditEvent.objects.filter(action="certificate.import", outcome="success").first()
    assert event.actor_label == "manage.py import_certificates"

    again = json.loads(run("--editor", tenant_a.editor.name, "--json", str(folder)))
    assert [row["result"] for row in again][:3] == ["duplicate"] * 3
    assert again[0]["certificate"]["id"] == imported["id"]


def test_table_output_ends_with_a_summary(folder, tenant_a):
    lines = run("--editor", str(tenant_a.editor.pk), str(folder)).splitlines()
    assert lines[-1] == "5 file(s): 3 imported, 0 duplicate(s), 2 rejected."
    rejected = [line for line in lines if line.startswith("rejected")]
    assert len(rejected) == 2 and any("junk.txt" in line for line in rejected)


def test_create_officines(tmp_path, tenant_a, pki, shared_key, trust_anchors):
    newcomer = Officine(finess="760021832", raison_sociale="PHARMACIE DU PORT", department="76")
    path = tmp_path / "new.pem"
    path.write_bytes(to_pem_bundle(issue(pki, newcomer, shared_key)))

    refused = json.loads(run("--editor", str(tenant_a.editor.pk), "--json", str(path)))
    assert refused[0]["code"] == "unknown_officine"
    rows = json.loads(
        run("--editor", str(tenant_a.editor.pk), "--create-officines", "--json", str(path))
    )

    assert rows[0]["result"] == "imported", rows[0]["reason"]
    created = Officine.objects.of_editor(tenant_a.editor.pk).get(finess="760021832")
    assert (created.raison_sociale, created.department) == ("PHARMACIE DU PORT", "76")
    assert rows[0]["certificate"]["officine"] == created.pk


def test_pkcs12_with_password_and_services(tmp_path, tenant_a, pki, shared_key, trust_anchors):
    cert = issue(pki, tenant_a.officine, shared_key, common_name="Serveur")
    path = tmp_path / "store.p12"
    path.write_bytes(encode("p12", cert, pki.chain_for("production"), key=shared_key))
    editor = str(tenant_a.editor.pk)

    without = json.loads(run("--editor", editor, "--json", str(path)))
    assert (without[0]["result"], without[0]["code"]) == ("rejected", "bad_passphrase")
    rows = json.loads(
        run("--editor", editor, "--json", "--password", PASSPHRASE.decode(), "--service", "PSC",
            "--service", "ROR", str(path))
    )  # fmt: skip
    assert rows[0]["result"] == "imported"
    assert rows[0]["certificate"]["services"] == ["PSC", "ROR"]


def test_too_large_file_is_reported_not_loaded(tmp_path, tenant_a, settings, trust_anchors):
    settings.MAX_UPLOAD_SIZE = 1024
    path = tmp_path / "big.pem"
    path.write_bytes(b"A" * 10_000)
    rows = json.loads(run("--editor", str(tenant_a.editor.pk), "--json", str(path)))
    assert rows[0]["code"] == "too_large"


def test_unknown_editor_is_a_usage_error(tmp_path, tenant_a, tenant_b):
    with pytest.raises(CommandError, match="Unknown editor") as by_id:
        run("--editor", "999999", str(tmp_path))
    with pytest.raises(CommandError, match="Unknown editor"):
        run("--editor", "Nobody", str(tmp_path))
    # manage.py turns a CommandError into `sys.exit(returncode)`: a non-zero exit status.
    assert by_id.value.returncode != 0
    assert AuditEvent.objects.filter(action="certificate.import").count() == 0


def test_missing_path_and_inactive_editor_are_usage_errors(tmp_path, tenant_a):
    with pytest.raises(CommandError, match="No such file"):
        run("--editor", str(tenant_a.editor.pk), str(tmp_path / "missing"))
    tenant_a.editor.is_active = False
    tenant_a.editor.save()
    with pytest.raises(CommandError, match="deactivated"):
        run("--editor", str(tenant_a.editor.pk), str(tmp_path))


def test_empty_folder_prints_an_empty_array(tmp_path, tenant_a):
    assert json.loads(run("--editor", str(tenant_a.editor.pk), "--json", str(tmp_path))) == []
    assert run("--editor", str(tenant_a.editor.pk), str(tmp_path)).splitlines()[-1] == (
        "0 file(s): 0 imported, 0 duplicate(s), 0 rejected."
    )


# --------------------------------------------------------------------------- passphrase


def run_both(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_certificates", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def p12(tmp_path, tenant_a, pki, shared_key, trust_anchors):
    """A PKCS#12 under PASSPHRASE, and the command's first arguments for it (JSON output)."""
    path = tmp_path / "store.p12"
    cert = issue(pki, tenant_a.officine, shared_key, common_name="Serveur")
    path.write_bytes(encode("p12", cert, pki.chain_for("production"), key=shared_key))
    return ["--editor", str(tenant_a.editor.pk), "--json", str(path)]


def outcome(stdout: str) -> tuple[str, str | None]:
    [row] = json.loads(stdout)
    return row["result"], row.get("code")


def test_password_file_reads_the_first_line_without_warning(p12, tmp_path, monkeypatch):
    monkeypatch.setenv("IMPORT_PKCS12_PASSWORD", "wrong passphrase from the environment")
    secret = tmp_path / "p12.pass"
    secret.write_bytes(PASSPHRASE + b"\n")  # as `echo ... > file` writes it
    secret.chmod(0o600)
    stdout, stderr = run_both("--password-file", str(secret), *p12)
    assert outcome(stdout)[0] == "imported"  # the file wins over the environment
    assert stderr == ""
    assert PASSPHRASE.decode() not in stdout + stderr


def test_password_file_readable_by_others_is_used_with_a_warning(p12, tmp_path):
    secret = tmp_path / "p12.pass"
    secret.write_bytes(PASSPHRASE + b"\r\n")
    secret.chmod(0o644)
    stdout, stderr = run_both("--password-file", str(secret), *p12)
    assert outcome(stdout)[0] == "imported"
    assert "readable by other users" in stderr and str(secret) in stderr


def test_password_file_errors_are_usage_errors(p12, tmp_path):
    with pytest.raises(CommandError, match="Cannot read the password file"):
        run_both("--password-file", str(tmp_path / "missing"), *p12)
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    with pytest.raises(CommandError, match="is empty"):
        run_both("--password-file", str(empty), *p12)
    with pytest.raises(CommandError, match="not allowed with argument"):
        run_both("--password-file", str(empty), "--password", "x", *p12)
    assert Certificate.objects.count() == 0


def test_password_from_the_environment(p12, monkeypatch):
    assert outcome(run_both(*p12)[0]) == ("rejected", "bad_passphrase")
    monkeypatch.setenv("IMPORT_PKCS12_PASSWORD", PASSPHRASE.decode())
    stdout, stderr = run_both(*p12)
    assert outcome(stdout)[0] == "imported"
    assert stderr == ""


def test_password_on_the_command_line_still_works_with_a_warning(p12, monkeypatch):
    monkeypatch.setenv("IMPORT_PKCS12_PASSWORD", "wrong passphrase from the environment")
    stdout, stderr = run_both("--password", PASSPHRASE.decode(), *p12)
    assert outcome(stdout)[0] == "imported"  # the option wins over the environment
    assert "--password is visible to other users" in stderr
    assert "--password-file" in stderr and "IMPORT_PKCS12_PASSWORD" in stderr
    assert PASSPHRASE.decode() not in stderr
