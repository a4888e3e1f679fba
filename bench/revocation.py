"""Applying an IGC Santé CRL to the certificates of the scale data set.

Target (issue 17): a 50,000-entry CRL applied to the 100,000 certificates of the scale data
set in under 5 s and under 300 MB (the process's peak RSS, `revocation.process_rss_peak`
from bench/run). Same-run reference: parsing the CRL alone (DER load + every serial read).

The CRL is real: signed by the bench PKI's ORGANISATIONS CA (the issuer of the data set's
production certificates). Most entries are serials the portal does not hold (a national CRL
lists every structure's certificates); HITS of them are live certificates of the data set,
which the apply revokes (audit row, coverage refresh, webhook deliveries and notices each).
Everything the apply writes is rolled back at the end: the data set is left as it was.

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python -m bench.revocation [--quick]
"""

from __future__ import annotations

import argparse
import secrets
import time
from datetime import UTC, datetime, timedelta

from bench import common

TARGET_ENTRIES = 50_000
TARGET_SECONDS = 5.0
HITS = 100  # live certificates of the data set on the CRL (the rest: other structures)
QUICK_ENTRIES = 2_000
QUICK_HITS = 10


class _Rollback(Exception):
    pass


def _pki():
    from bench.seeding.scale import BENCH_DIR
    from bench.seeding.signing import prepare_pki

    return prepare_pki(BENCH_DIR)[0]


def _build_crl(pki, issuer_dn: str, entries: int, hits: int) -> tuple[bytes, int]:
    """A CRL of `entries` serials, `hits` of them live certificates of the CA (DER, hits)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from certificates.models import Certificate

    live = list(
        Certificate.objects.live()
        .filter(issuer_dn=issuer_dn, not_after__gt=datetime.now(UTC))
        .order_by("?")
        .values_list("serial", flat=True)[:hits]
    )
    serials = {int(s, 16) for s in live}
    while len(serials) < entries:
        serials.add(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
    when = datetime.now(UTC) - timedelta(days=1)
    reasons = [x509.ReasonFlags.key_compromise, x509.ReasonFlags.cessation_of_operation, None]
    revoked = [(s, when, reasons[i % 3]) for i, s in enumerate(sorted(serials))]
    crl = pki.crl(revoked=revoked, number=int(time.time()))
    return crl.public_bytes(serialization.Encoding.DER), len(live)


def run(quick: bool = False) -> list[dict]:
    from django.db import transaction
    from django.utils import timezone

    from certificates.models import Certificate
    from certificates.revocation import crl as crl_mod
    from certificates.revocation.services import crl_apply

    common.check_migrated()
    data = common.ensure_scale_data(quick)
    entries, hits = (QUICK_ENTRIES, QUICK_HITS) if quick else (TARGET_ENTRIES, HITS)
    pki = _pki()
    issuer_dn = pki.organisations.certificate.subject.rfc4514_string()
    der, hits = _build_crl(pki, issuer_dn, entries, hits)
    scale = data.certificates / 100_000 if quick else 1.0
    target = TARGET_SECONDS * max(scale, entries / TARGET_ENTRIES) if quick else TARGET_SECONDS
    ca_certificates = Certificate.objects.filter(issuer_dn=issuer_dn).count()

    started = time.perf_counter()  # reference: the CRL parsed, every serial read
    parsed = crl_mod.load_crl(der)
    serials = {entry.serial_number for entry in parsed}
    parse_seconds = time.perf_counter() - started
    assert len(serials) == entries

    revoked: list[int] = []
    try:
        with transaction.atomic():
            started = time.perf_counter()
            verified = crl_mod.verify_crl(der, issuers=[pki.organisations.certificate])
            revoked = crl_apply(verified, now=timezone.now(), detail={"bench": True})
            apply_seconds = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    assert len(revoked) == hits, (len(revoked), hits)
    rss = common.peak_rss_mb()
    return [
        common.row(
            "revocation.crl_apply",
            apply_seconds,
            "s",
            target=target,
            reference=parse_seconds,
        ),
        common.row("revocation.crl_parse", parse_seconds, "s", reference=f"{entries} entries"),
        common.row(
            "revocation.crl_apply.per_revocation",
            apply_seconds / max(hits, 1) * 1000,
            "ms",
            reference=f"{hits} revoked of {ca_certificates} certificates of the CA",
        ),
        common.row("revocation.crl_bytes", len(der) / 1e6, "MB", reference=f"{entries} entries"),
        common.row("revocation.rss_after_apply", rss, "MB", target=300.0),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    common.setup_django()
    for r in run(args.quick):
        print(r)


if __name__ == "__main__":
    main()
