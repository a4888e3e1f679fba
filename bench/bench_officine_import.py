"""Time the CSV import of officines (target: 20,000 rows in under 30 s).

Run by hand against a throw-away database, e.g.:

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python bench/bench_officine_import.py --rows 20000

It creates an editor, imports N new officines, then re-imports the same file with
every row changed (N updates), and prints the time of each phase.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from officines import identifiers  # noqa: E402
from officines.csv_import import officines_import_plan, officines_import_write  # noqa: E402
from officines.models import TechnicalAdministrator  # noqa: E402
from portal.models import Editor  # noqa: E402

DEPARTMENTS = ["69", "75", "13", "33", "2A", "974"]


def build_csv(rows: int, suffix: str) -> str:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    # A new editor each run: nothing to clean up (deleting would cascade into other apps).
    editor = Editor.objects.create(name=f"Bench import {time.time_ns()}")
    TechnicalAdministrator.objects.bulk_create(
        TechnicalAdministrator(
            editor=editor,
            full_name=f"Admin {n}",
            email="pki@example.fr",
            card_number=str(8_000_000_000 + n),
        )
        for n in range(20)
    )
    print(f"database: {connection.vendor}, rows: {args.rows}")
    for label, suffix in (("create", "A"), ("update", "B")):
        text = build_csv(args.rows, suffix)
        start = time.perf_counter()
        plan = officines_import_plan(editor_id=editor.pk, text=text)
        checked = time.perf_counter()
        result = officines_import_write(editor_id=editor.pk, plan=plan)
        done = time.perf_counter()
        print(
            f"{label}: check {checked - start:.2f} s, write {done - checked:.2f} s, "
            f"total {done - start:.2f} s (created {result.created}, updated {result.updated}, "
            f"errors {plan.invalid_rows})"
        )


if __name__ == "__main__":
    main()
