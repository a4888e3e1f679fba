"""Seed the national-scale benchmark data set, or remove it (bench editors only).

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python manage.py seed_scale --editors 10 --officines 20000 --certificates 100000

What it writes (deterministic for given sizes, relative to the day it runs):
- `--editors` editors named "Bench Éditeur NN"; editor 01 holds `--big` officines (10,000 by
  default), the others share the rest unevenly;
- per editor: admin, operator and viewer users (`admin@editeur-01.bench.example` ...) with
  password `SCALE_PASSWORD` and TOTP secret `SCALE_TOTP_SECRET` enrolled, a few pharmacists,
  technical administrators (one per ~250 officines), an API key (read, write) made with
  `api_key_create` whose secret goes to var/bench/scale-api-keys.json, a digest subscription;
- officines spread over 25 départements (2 % inactive, 1 % in the TEST environment, 15 % in
  "pharmacien" mode), each with 3 to 5 certificate slots (INSi, DMP/PSC, signature, MSSanté,
  encryption); about 80 % of the certificates are the current one of a slot, 20 % are the
  superseded certificates they renewed (linked by `replaces`);
- expiries spread over three years: 5 % of all certificates expire within 30 days, 2 % of the
  current ones are already expired, 1 % are revoked; installations of most renewals, and the
  30-day alerts that were sent for superseded certificates (history for the dashboard).

Every certificate is a real one: issued by the demo IGC Santé PKI (certificates.demo_pki,
kept in var/bench/pki so reruns use the same CAs) over 16 shared RSA keys, signed in a
process pool (its speed: BENCHMARKS.md). Writes are bulk inserts in batches. Idempotent: a
second run with the data present does nothing; `--reset` (`scale_delete`) deletes the bench
editors (and everything they own) first.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from bench.seeding.planning import Plan, plan_certificates, plan_officines
from bench.seeding.signing import issue_chunk, prepare_pki, signing_pool, worker_init
from bench.seeding.spec import (
    SCALE_PASSWORD,
    SCALE_PREFIX,
    SEED,
    ScaleSpec,
    SeedReport,
    domain,
    editor_name,
)
from bench.seeding.writing import (
    create_accounts,
    create_habilitations,
    create_pharmacists,
    keep_timestamps,
    save_api_keys,
    write_chunk,
)
from certificates.coverage import coverage_rebuild
from certificates.demo_pki import to_pem_bundle
from certificates.models import Certificate, Installation
from notifications.models import AlertLog
from officines.models import Officine, TechnicalAdministrator
from portal.models import ApiKey, Editor, User

BENCH_DIR = Path(settings.VAR_DIR) / "bench"  # demo PKI, shared keys, API keys of the runs


def api_keys_file() -> Path:
    return BENCH_DIR / "scale-api-keys.json"


def seed_scale(
    spec: ScaleSpec,
    *,
    processes: int | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> SeedReport:
    """Write the data set described in the module docstring; does nothing when present."""
    report = SeedReport()
    existing = Editor.objects.filter(name__startswith=spec.prefix + " ").count()
    if existing:
        report.skipped = True
        report.editors = existing
        report.officines = Officine.objects.filter(editor__name__startswith=spec.prefix).count()
        report.certificates = Certificate.objects.filter(
            editor__name__startswith=spec.prefix
        ).count()
        return report
    started = time.perf_counter()
    rng = random.Random(SEED)
    now = timezone.now()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    pki, keys_file = prepare_pki(BENCH_DIR)
    chains = {env: to_pem_bundle(*pki.chain_for(env)).decode() for env in ("production", "test")}
    report.seconds["pki"] = time.perf_counter() - started

    mark = time.perf_counter()
    with transaction.atomic():
        editors = [
            Editor.objects.create(
                name=editor_name(i, spec.prefix),
                siren=f"{900_000_000 + i}",
                contact_email=f"contact@{domain(i, spec.prefix)}",
                is_mssante_operator=i % 4 == 0,
            )
            for i in range(1, spec.editors + 1)
        ]
        # Hashed once (PBKDF2 is deliberately slow), with Django's default hasher even when
        # tests configure a faster one: the benchmark server logs in with its defaults.
        hasher = PBKDF2PasswordHasher()
        password = hasher.encode(SCALE_PASSWORD, hasher.salt())
        users, administrators, raw_keys = create_accounts(spec, editors, password)
        officines = Officine.objects.bulk_create(
            plan_officines(rng, spec, editors, administrators), batch_size=2000
        )
        create_habilitations(officines)
        users += create_pharmacists(spec, editors, officines, password)
    report.seconds["accounts_officines"] = time.perf_counter() - mark
    report.editors, report.officines, report.users = len(editors), len(officines), users
    log(f"{len(editors)} editors, {len(officines)} officines, {users} users")

    mark = time.perf_counter()
    plans = plan_certificates(rng, len(officines), spec.certificates, now)
    order = list(range(len(officines)))
    rng.shuffle(order)  # interleave editors and officines on disk, as years of imports do
    flat = [plan for index in order for plan in plans[index]]
    del plans
    chunk_size = 1000
    chunks = [flat[i : i + chunk_size] for i in range(0, len(flat), chunk_size)]
    del flat

    def specs(chunk: list[Plan]) -> list[tuple]:
        rows = []
        for plan in chunk:
            officine = officines[plan.officine]
            rows.append(
                (
                    officine.finess,
                    officine.raison_sociale[:64],
                    officine.department_label,
                    plan.common_name,
                    plan.profile,
                    officine.environment,
                    plan.not_before,
                    plan.not_after,
                    plan.key,
                )
            )
        return rows

    processes = processes or os.cpu_count() or 1
    written = 0
    installations: list = []
    alerts: list = []
    with keep_timestamps(
        Certificate._meta.get_field("created_at"), AlertLog._meta.get_field("created_at")
    ):
        if processes > 1 and len(chunks) > 1:
            connection.close()  # forked workers must not share the database socket
            with signing_pool(processes, (str(BENCH_DIR / "pki"), str(keys_file))) as pool:
                results = pool.imap(issue_chunk, (specs(c) for c in chunks))
                for chunk, issued in zip(chunks, results, strict=True):
                    written += write_chunk(
                        chunk, issued, officines, chains, now, installations, alerts
                    )
                    if written % 20_000 < chunk_size:
                        log(f"  {written} certificates")
        else:
            worker_init(str(BENCH_DIR / "pki"), str(keys_file))
            for chunk in chunks:
                issued = issue_chunk(specs(chunk))
                written += write_chunk(chunk, issued, officines, chains, now, installations, alerts)
        Installation.objects.bulk_create(installations, batch_size=2000)
        AlertLog.objects.bulk_create(alerts, batch_size=2000)
    report.certificates = written
    report.seconds["certificates"] = time.perf_counter() - mark
    log(
        f"{written} certificates, {len(installations)} installations, "
        f"{len(alerts)} past alerts ({report.seconds['certificates']:.1f} s)"
    )
    save_api_keys(raw_keys, api_keys_file())
    mark = time.perf_counter()
    for editor in editors:  # COPY sends no signal: store the coverage in one pass per editor
        coverage_rebuild(editor.pk)
    report.seconds["coverage"] = time.perf_counter() - mark
    if connection.vendor == "postgresql":
        mark = time.perf_counter()
        with connection.cursor() as cursor:  # fresh statistics and visibility map
            # VACUUM cannot run in a transaction (a caller's atomic block, a test).
            cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE")
        report.seconds["vacuum_analyze"] = time.perf_counter() - mark
    report.seconds["total"] = time.perf_counter() - started
    return report


def scale_delete(prefix: str = SCALE_PREFIX) -> int:
    """Remove the bench editors of `prefix` (see `retire_editors`); returns how many."""
    editors = list(
        Editor.objects.filter(name__startswith=prefix + " ").values_list("pk", flat=True)
    )
    retire_editors(editors)
    return len(editors)


def retire_editors(editor_ids: list[int]) -> None:
    """Delete what benchmark editors own (officines and their certificates, administrators,
    API keys, users); the editors themselves stay, deactivated and renamed, with their audit
    events: those are append-only (a PostgreSQL trigger refuses DELETE) and protect their
    editor. Refuses editors whose name is not a benchmark's."""
    if not editor_ids:
        return
    editors = list(Editor.objects.filter(pk__in=editor_ids))
    foreign = [e.name for e in editors if not e.name.lower().startswith(("bench", "retired"))]
    if foreign:
        raise CommandError(f"not a benchmark editor: {foreign[0]!r}")
    with transaction.atomic():
        user_ids = list(
            User.objects.filter(membership__editor_id__in=editor_ids).values_list("pk", flat=True)
        ) + list(
            User.objects.filter(pharmacist_links__officine__editor_id__in=editor_ids).values_list(
                "pk", flat=True
            )
        )
        # Break the self-references first so the cascade below is set-based.
        Certificate.objects.filter(editor_id__in=editor_ids).update(replaces=None)
        Officine.objects.filter(editor_id__in=editor_ids).delete()
        TechnicalAdministrator.objects.filter(editor_id__in=editor_ids).delete()
        ApiKey.objects.filter(editor_id__in=editor_ids).delete()
        User.objects.filter(pk__in=user_ids).delete()
        stamp = timezone.now().strftime("%Y%m%d%H%M%S%f")
        for editor in editors:
            if not editor.name.startswith("retired"):
                editor.name = f"retired {stamp} {editor.name}"[:200]
            editor.is_active = False
            editor.save(update_fields=["name", "is_active"])
