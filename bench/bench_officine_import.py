"""Time the CSV import of officines (target: 20,000 rows in under 30 s).

Run by hand against a throw-away database, e.g.:

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python bench/bench_officine_import.py --rows 20000

It creates a throwaway editor, imports N new officines through the services (check, then
write), then re-imports the same file with every row changed (N updates), prints the time of
each phase and retires the editor (bench.common.retire_editors). `run(quick)` returns the
rows officine_import.create / .update (N = 20,000, 500 if quick) for `bench/run`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DEPARTMENTS = ["69", "75", "13", "33", "2A", "974"]
TARGET_ROWS = 20_000
TARGET_SECONDS = 30.0


def build_csv(rows: int, suffix: str) -> str:
    from officines import identifiers

    lines = [
        "FINESS géographique;Raison sociale;Ville;Code postal;E-mail de notification;"
        "Carte de l'administrateur technique"
    ]
    for i in range(rows):
        department = DEPARTMENTS[i % len(DEPARTMENTS)]
        finess = identifiers.generate_finess(department, 10_000 + i)
        lines.append(
            f"{finess};PHARMACIE BENCH {i} {suffix};Ville {i % 300};69003;"
            f"officine{i}@example.fr;{8_000_000_000 + i % 20}"
        )
    return "\n".join(lines) + "\n"


class _Rollback(Exception):
    """Leaves the bench database as it was: the officines, and the FINESS referential."""


def measure(size: int, log: Callable[[str], None] = lambda _m: None) -> list[dict]:
    """Rows officine_import.create and .update: check + write of `size` CSV rows each.

    Measured as on a portal without a FINESS referential (the `finess` module of a previous
    run leaves one, with which these generated FINESS would wait for confirmation): the
    referential is hidden inside a transaction that is rolled back at the end.
    """
    from django.db import transaction

    from finess.models import Refresh

    results: list[dict] = []
    try:
        with transaction.atomic():
            Refresh.objects.all().delete()
            results = _measure(size, log)
            raise _Rollback
    except _Rollback:
        pass
    return results


def _measure(size: int, log: Callable[[str], None]) -> list[dict]:
    from officines.csv_import.plan import officines_import_plan
    from officines.csv_import.write import officines_import_write
    from officines.models import TechnicalAdministrator
    from portal.models import Editor

    target = TARGET_SECONDS * size / TARGET_ROWS
    editor = Editor.objects.create(name=f"bench-officine-import-{time.time_ns()}")
    results = []
    TechnicalAdministrator.objects.bulk_create(
        TechnicalAdministrator(
            editor=editor,
            full_name=f"Admin {n}",
            email="pki@example.fr",
            card_number=str(8_000_000_000 + n),
        )
        for n in range(20)
    )
    for label, suffix in (("create", "A"), ("update", "B")):
        text = build_csv(size, suffix)
        started = time.perf_counter()
        plan = officines_import_plan(editor_id=editor.pk, text=text)
        checked = time.perf_counter()
        result = officines_import_write(editor_id=editor.pk, plan=plan)
        done = time.perf_counter()
        log(
            f"{label}: check {checked - started:.2f} s, write {done - checked:.2f} s, "
            f"total {done - started:.2f} s (created {result.created}, "
            f"updated {result.updated}, errors {plan.invalid_rows})"
        )
        changed = result.created if label == "create" else result.updated
        if changed != size or plan.invalid_rows:
            raise RuntimeError(f"officine import {label}: {changed}/{size} rows")
        results.append(
            common.row(f"officine_import.{label}", done - started, "s", target, f"{size} CSV rows")
        )
    return results


def run(quick: bool) -> list[dict]:
    """Entry point for bench/run: 500 rows when quick, else 20,000."""
    return measure(500 if quick else TARGET_ROWS)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=TARGET_ROWS)
    args = parser.parse_args()
    common.setup_django()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor}, rows: {args.rows}")
    measure(args.rows, log=print)


if __name__ == "__main__":
    main()
