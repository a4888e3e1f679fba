"""Coverage over a large editor, and renewal campaigns: worker rate and ZIP build.

Targets (issue: editors manage up to ~10,000 officines):
- coverage matrix of 10,000 officines (one query on the stored coverage) in under 2 s;
- dashboard summary of the same editor in under 2 s;
- SQL coverage filter: count + first page of 50 in under 2 s;
- coverage.rebuild (no target): storing the coverage of the N officines from their
  certificates, what seed_scale and the nightly repair do;
- ZIP of 10,000 CSRs + worksheet in under 10 s;
- campaign worker: reported in certificates/s (RSA 2048 key generation dominates),
  with the extrapolated time of a 10,000-certificate campaign.

Setup, not timed: a throwaway editor "bench-coverage-<timestamp>" with N officines and
three certificate rows each (bulk-created; coverage never parses the PEM), N renewal
requests holding one real CSR text, all deleted at the end.

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python -m bench.coverage_campaign [-n 10000] [--quick]

`run(quick)` returns rows {name, value, unit, target, reference, ratio} (ratio = value /
target: below 1 is better for durations, above 1 for rates).
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from bench import common

TARGET_OFFICINES = 10_000
TARGET_MATRIX_SECONDS = 2.0
TARGET_ZIP_SECONDS = 10.0
WORKER_SAMPLE = 10


def _bench_csr() -> str:
    """One real CSR text, shared by every certificate row and renewal request of the set-up."""
    from certificates import x509

    subject = x509.build_subject(
        department="Rhône (69)", raison_sociale="BENCH", finess="760021832", common_name="LGO"
    )
    return x509.build_csr(private_key=x509.generate_private_key(), subject=subject).decode()


def _prepare(editor, n: int, pem: str) -> list[int]:
    from django.utils import timezone

    from certificates.models import Certificate
    from officines import identifiers
    from officines.models import Officine

    officines = Officine.objects.bulk_create(
        [
            Officine(
                editor=editor,
                finess=identifiers.generate_finess("69", 100_000 + i),
                raison_sociale=f"PHARMACIE BENCH {i}",
                department="69",
            )
            for i in range(n)
        ],
        batch_size=2000,
    )
    now = timezone.now()  # `pem` (a CSR) stands for a certificate PEM: coverage never parses it
    shapes = [  # (profile, CN, services, days left): a mix of every coverage state
        ("ORG_AUTH_CLI", "INSI-AUTO", ["INSI"], (20, 400, -3)),
        ("ORG_AUTH_CLI", "LGO", ["DMP", "PSC"], (700, 15, 300)),
        ("ORG_SIGN", "SIGN", ["DMP"], (500, -10, 90)),
    ]
    rows = []
    for i, officine in enumerate(officines):
        for profile, cn, services, days in shapes:
            rows.append(
                common.fake_certificate(
                    officine,
                    not_after=now + timedelta(days=days[i % 3]),
                    pem=pem,
                    profile=profile,
                    common_name=cn,
                    services=services,
                    subject_dn="CN=bench",
                    issuer_dn="CN=bench CA",
                )
            )
    Certificate.objects.bulk_create(rows, batch_size=2000)
    from certificates.coverage import coverage_refresh

    coverage_refresh(o.pk for o in officines)  # bulk_create sends no post_save
    return [o.pk for o in officines]


def _zip_campaign(editor, n: int, csr: str):
    """A finished campaign of n requests sharing one real CSR text (the ZIP build is timed)."""
    from certificates.models import CertificateRequest, RenewalCampaign

    campaign = RenewalCampaign.objects.create(
        editor=editor, name="bench", requester_email="bench@lgo.example", total=n, completed=n
    )
    certificates = editor_certificates(editor).filter(profile="ORG_AUTH_CLI", common_name="LGO")
    CertificateRequest.objects.bulk_create(
        [
            CertificateRequest(
                editor=editor,
                officine_id=c.officine_id,
                profile=c.profile,
                services=c.services,
                common_name=c.common_name,
                csr_pem=csr,
                requester_email="bench@lgo.example",
                status="csr_ready",
                campaign=campaign,
                renews=c,
            )
            for c in certificates[:n]
        ],
        batch_size=2000,
    )
    return campaign


def editor_certificates(editor):
    from certificates.models import Certificate

    return Certificate.objects.of_editor(editor.pk).order_by("pk")


def _worker_rate(editor, sample: int) -> float:
    """Certificates per second through the real worker (requests + RSA keys + CSRs)."""
    from certificates.campaign_worker import campaign_run
    from certificates.campaigns import campaign_create

    ids = list(
        editor_certificates(editor)
        .filter(profile="ORG_SIGN", renewal_requests__isnull=True)
        .values_list("pk", flat=True)[:sample]
    )
    campaign = campaign_create(
        editor=editor,
        actor=None,
        name="bench worker",
        requester_email="bench@lgo.example",
        certificate_ids=ids,
    )
    started = time.perf_counter()
    campaign = campaign_run(campaign_id=campaign.pk)
    seconds = time.perf_counter() - started
    if campaign.completed != len(ids):
        raise SystemExit(f"bench worker failed: {campaign.completed}/{len(ids)} ({campaign.error})")
    return len(ids) / seconds


def measure(n: int, sample: int = WORKER_SAMPLE) -> list[dict]:
    common.setup_django()
    from django.db import connection

    from certificates.campaigns import campaign_zip
    from certificates.coverage import (
        coverage_for_officines,
        coverage_rebuild,
        coverage_summary,
        officines_with_coverage_state,
    )
    from officines.models import Officine
    from portal.models import Editor

    editor = Editor.objects.create(name=f"bench-coverage-{time.time_ns()}")
    try:
        csr = _bench_csr()
        ids = _prepare(editor, n, csr)
        common.analyze()

        started = time.perf_counter()
        coverage_rebuild(editor.pk)  # what seed_scale and the nightly repair do
        rebuild_seconds = time.perf_counter() - started

        started = time.perf_counter()
        matrix = coverage_for_officines(ids)
        matrix_seconds = time.perf_counter() - started
        assert len(matrix) == n  # a wrong result would make the time meaningless

        started = time.perf_counter()
        coverage_summary(editor.pk)
        summary_seconds = time.perf_counter() - started

        started = time.perf_counter()
        filtered = officines_with_coverage_state(
            Officine.objects.of_editor(editor.pk), service="DMP", state="expiring"
        )
        filtered.count()
        list(filtered.order_by("raison_sociale", "id")[:50])
        filter_seconds = time.perf_counter() - started

        campaign = _zip_campaign(editor, n, csr)
        started = time.perf_counter()
        size = sum(len(chunk) for chunk in campaign_zip(campaign))
        zip_seconds = time.perf_counter() - started

        rate = _worker_rate(editor, sample)
    finally:
        common.retire_editors([editor.pk])  # audit rows are append-only: the editor stays, inactive
    scale = n / TARGET_OFFICINES
    reference = f"{TARGET_OFFICINES} officines ({connection.vendor})"
    return [
        common.row(
            "coverage.matrix", matrix_seconds, "s", TARGET_MATRIX_SECONDS * scale, reference
        ),
        common.row(
            "coverage.summary", summary_seconds, "s", TARGET_MATRIX_SECONDS * scale, reference
        ),
        common.row("coverage.filter_page", filter_seconds, "s", TARGET_MATRIX_SECONDS, reference),
        common.row("coverage.rebuild", rebuild_seconds, "s", 0, reference),
        common.row("campaign.zip", zip_seconds, "s", TARGET_ZIP_SECONDS * scale, reference),
        common.row("campaign.zip_size", size / 1e6, "MB", 0, reference),
        common.row("campaign.worker_rate", rate, "certs/s", 0, f"{sample} RSA 2048 renewals"),
        common.row(
            "campaign.worker_10k_estimate",
            TARGET_OFFICINES / rate / 60,
            "min",
            0,
            "10,000 renewals at the measured rate, one worker",
        ),
    ]


def run(quick: bool) -> list[dict]:
    """Entry point for the bench aggregator: 500 officines when quick, else 10,000."""
    return measure(500 if quick else TARGET_OFFICINES, sample=3 if quick else WORKER_SAMPLE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=TARGET_OFFICINES, help="number of officines")
    parser.add_argument("--quick", action="store_true", help="500 officines")
    args = parser.parse_args()
    rows = run(True) if args.quick else measure(args.n)
    from django.db import connection

    print(f"database: {connection.vendor}")
    for row in rows:
        print(
            f"{row['name']:<30} {row['value']:>10} {row['unit']:<8} "
            f"target {row['target']} (ratio {row['ratio']})"
        )


if __name__ == "__main__":
    main()
