"""Bulk import of issued certificates: `manage.py import_certificates` over a folder.

Target (issue): 1,000 certificate files in under 15 s, i.e. at least 66.7 files/s.

Setup, not timed: a demo IGC Santé PKI (certificates.demo_pki) whose CA files become the
trust anchors (a temporary TRUST_ANCHORS_DIR), a few reused RSA keys, N officines
bulk-created, one certificate file per officine written to a temporary folder in every
format an administrator meets (PEM, PEM + chain, DER, PKCS#7 PEM/DER, and 1 file in 50 a
PKCS#12, whose deliberately slow key derivation costs ~60 ms a file), all profiles. Timed: the command run in-process on that folder (parse, chain validation,
officine look-up, writes, audit), then a second run where every file is a duplicate.

Database: the one of DATABASE_URL (default: the SQLite file of the dev settings), which
must be migrated. Everything is created under a throwaway editor named
"bench-import-<timestamp>" whose data is deleted at the end; the editor stays, deactivated,
with its append-only audit events (bench.common.retire_editors).

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python -m bench.certificate_import [-n 1000] [--quick]

`run(quick)` returns rows {name, value, unit, target, reference, ratio} for `bench/run`
(ratio = value / target: above 1 is better for rates, below 1 for durations).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from io import StringIO
from pathlib import Path

from bench import common

TARGET_FILES = 1000
TARGET_SECONDS = 15.0
TARGET_RATE = TARGET_FILES / TARGET_SECONDS
PASSPHRASE = b"bench passphrase 2026"
# Mostly what ANS hands back (PEM, DER, PKCS#7); 1 file in 50 is a PKCS#12 found on a server,
# whose key derivation (deliberately slow, ~60 ms) would otherwise dominate the measure.
FORMATS = ("pem", "pem_chain", "der", "p7b_pem", "p7b_der") * 10
FORMATS = (*FORMATS[:-1], "p12")
PROFILES = ("ORG_AUTH_CLI", "ORG_SIGN", "ORG_CONF", "ORG_AUTH_CLI")
DEPARTMENTS = ("69", "75", "13", "33", "2A", "974")


def _encode(fmt: str, cert, chain, key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

    from certificates import x509
    from certificates.demo_pki import to_pem_bundle

    if fmt == "pem":
        return to_pem_bundle(cert)
    if fmt == "pem_chain":
        return to_pem_bundle(cert, *chain)
    if fmt == "der":
        return x509.certificate_to_der(cert)
    if fmt in ("p7b_pem", "p7b_der"):
        encoding = serialization.Encoding.PEM if fmt == "p7b_pem" else serialization.Encoding.DER
        return pkcs7.serialize_certificates([cert, *chain], encoding)
    encryption = serialization.BestAvailableEncryption(PASSPHRASE)
    return pkcs12.serialize_key_and_certificates(b"bench", key, cert, chain, encryption)


def _prepare(editor, n: int, folder: Path, anchors: Path) -> None:
    """Officines (bulk) and one certificate file each, spread over sub-folders."""
    from certificates import x509
    from certificates.demo_pki import DemoPKI
    from officines import identifiers
    from officines.models import Officine

    pki = DemoPKI.create()
    pki.write_trust_anchors(anchors)
    keys = [x509.generate_private_key() for _ in range(4)]
    chain = pki.chain_for("production")
    officines = []
    for i in range(n):
        department = DEPARTMENTS[i % len(DEPARTMENTS)]
        officines.append(
            Officine(
                editor=editor,
                finess=identifiers.generate_finess(department, 20_000 + i),
                raison_sociale=f"PHARMACIE BENCH {i}",
                department=department,
            )
        )
    Officine.objects.bulk_create(officines, batch_size=1000)
    for i, officine in enumerate(officines):
        profile = PROFILES[i % len(PROFILES)]
        common_name = "INSI-AUTO" if i % len(PROFILES) == 3 else "LGO"
        key = keys[i % len(keys)]
        _, cert = pki.issue_for(
            finess=officine.finess,
            raison_sociale=officine.raison_sociale,
            department=identifiers.department_label(officine.department),
            common_name=common_name,
            profile=x509.Profile(profile),
            key=key,
        )
        fmt = FORMATS[i % len(FORMATS)]
        sub = folder / f"lot-{i // 100:03d}"
        sub.mkdir(exist_ok=True)
        extension = {"p7b_pem": "p7b", "p7b_der": "p7c", "pem_chain": "pem"}.get(fmt, fmt)
        (sub / f"{officine.finess}.{extension}").write_bytes(_encode(fmt, cert, chain, key))


def _import(editor_id: int, folder: Path) -> tuple[float, list[dict]]:
    from django.core.management import call_command

    out = StringIO()
    started = time.perf_counter()
    call_command(
        "import_certificates",
        "--editor",
        str(editor_id),
        "--json",
        "--password",
        PASSPHRASE.decode(),
        str(folder),
        stdout=out,
    )
    return time.perf_counter() - started, json.loads(out.getvalue())


def measure(n: int) -> list[dict]:
    common.setup_django()
    common.check_migrated()
    from django.db import connection
    from django.test.utils import override_settings

    from portal.models import Editor

    editor = Editor.objects.create(name=f"bench-import-{time.time_ns()}")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-certs-") as tmp:
            folder, anchors = Path(tmp) / "files", Path(tmp) / "trust-anchors"
            folder.mkdir()
            _prepare(editor, n, folder, anchors)
            with override_settings(TRUST_ANCHORS_DIR=anchors):
                seconds, rows = _import(editor.pk, folder)
                dup_seconds, dup_rows = _import(editor.pk, folder)
        imported = sum(r["result"] == "imported" for r in rows)
        duplicates = sum(r["result"] == "duplicate" for r in dup_rows)
        if imported != n or duplicates != n:
            failures = [r for r in rows if r["result"] != "imported"][:3]
            raise SystemExit(f"bench import failed: {imported}/{n} imported; {failures}")
    finally:
        common.retire_editors([editor.pk])
    target_seconds = TARGET_SECONDS * n / TARGET_FILES
    rate, dup_rate = n / seconds, n / dup_seconds
    reference = f"{TARGET_FILES} files < {TARGET_SECONDS:g} s ({connection.vendor})"
    return [
        common.row("certificate_import.total", seconds, "s", target_seconds, reference),
        common.row("certificate_import.rate", rate, "files/s", TARGET_RATE, reference, digits=1),
        common.row(
            "certificate_import.duplicates_rate",
            dup_rate,
            "files/s",
            TARGET_RATE,
            reference,
            digits=1,
        ),
    ]


def run(quick: bool) -> list[dict]:
    """Entry point for the bench aggregator: 50 files when quick, else 1,000."""
    return measure(50 if quick else TARGET_FILES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=TARGET_FILES, help="number of files")
    parser.add_argument("--quick", action="store_true", help="50 files")
    args = parser.parse_args()
    n = 50 if args.quick else args.n
    rows = measure(n)
    from django.db import connection

    print(f"{n} certificate files, database: {connection.vendor}")
    for row in rows:
        print(
            f"{row['name']:<36} {row['value']:>9} {row['unit']:<8} "
            f"target {row['target']} (ratio {row['ratio']})"
        )


if __name__ == "__main__":
    main()
