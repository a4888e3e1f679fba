"""Time the FINESS referential: load of a national extract and comparison of 20,000 officines.

Targets (issue 19): ~100,000 établissements load in under 20 s and 300 MB, next to the same-run
reference "read and split the file alone"; comparing 20,000 officines after a refresh in
under 5 s. The extract is synthetic but in the published layout (`finess.samples`): header,
`structureet` and `geolocalisation` lines, Windows-1252, every category mixed.

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python bench/finess_load.py --etablissements 100000 --officines 20000

`run(quick)` returns the rows finess.load, finess.load.rss_peak, finess.read_split and
finess.compare for `bench/run` (2,000 établissements and 500 officines when quick).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

TARGET_ETABLISSEMENTS = 100_000
TARGET_OFFICINES = 20_000
LOAD_SECONDS = 20.0
COMPARE_SECONDS = 5.0
RSS_BUDGET_MB = 300.0
# Rough national mix: officines are about a fifth of the établissements.
CATEGORIES = ["620", "620", "500", "355", "611", "124", "620", "500", "124", "611"]
DEPARTMENTS = ["69", "75", "13", "33", "59", "2A", "974", "44", "31", "67"]


def sites(count: int):
    from finess.samples import Site
    from officines import identifiers

    for n in range(count):
        department = DEPARTMENTS[n % len(DEPARTMENTS)]
        yield Site(
            finess=identifiers.generate_finess(department, 10_000 + n // len(DEPARTMENTS)),
            juridique=identifiers.generate_finess(department, 50_000 + n // 20),
            name=f"ÉTABLISSEMENT SANTÉ {n}",
            number=str(1 + n % 200),
            street=f"DE LA RÉPUBLIQUE {n % 97}",
            postal_code="69003",
            city="LYON",
            department=department,
            category=CATEGORIES[n % len(CATEGORIES)],
        )


def write_extract(path: Path, count: int) -> None:
    from finess.samples import csv_lines

    with path.open("w", encoding="cp1252", newline="\n") as handle:
        for line in csv_lines(sites(count), extracted=date(2026, 5, 12)):
            handle.write(line + "\n")


def read_split(path: Path) -> int:
    """The reference: read the file, decode it and split every line, nothing else."""
    count = 0
    with path.open(encoding="cp1252", newline="") as handle:
        for cells in csv.reader(handle, delimiter=";"):
            count += len(cells) > 1
    return count


def measure(
    etablissements: int, officines: int, log: Callable[[str], None] = lambda _m: None
) -> list[dict]:
    from finess.models import RefreshStatus
    from finess.services import referential_import
    from officines.finess_check import finess_compare_editor
    from officines.models import Officine
    from portal.models import Editor

    results = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "etalab-cs1100507-stock-bench.csv"
        write_extract(path, etablissements)
        size_mb = path.stat().st_size / 1e6
        started = time.perf_counter()
        read_split(path)
        reference = time.perf_counter() - started
        rss_before = common.peak_rss_mb()
        started = time.perf_counter()
        refresh = referential_import(source=str(path), force=True)
        load = time.perf_counter() - started
        rss_peak = common.peak_rss_mb()
        if refresh.status != RefreshStatus.DONE or refresh.loaded != etablissements:
            raise RuntimeError(f"FINESS load failed: {refresh.message}")
        log(
            f"extract {size_mb:.1f} MB, {etablissements} établissements: read+split "
            f"{reference:.2f} s, load {load:.2f} s (x{load / reference:.1f}), peak RSS "
            f"{rss_peak:.0f} MB (before {rss_before:.0f} MB)"
        )
    target = LOAD_SECONDS * etablissements / TARGET_ETABLISSEMENTS
    results.append(common.row("finess.read_split", reference, "s", None, f"{etablissements} lines"))
    results.append(common.row("finess.load", load, "s", target, reference))
    results.append(common.row("finess.load.rss_peak", rss_peak, "MB", RSS_BUDGET_MB))

    editor = Editor.objects.create(name=f"bench-finess-{time.time_ns()}")
    try:
        pharmacies = [s for s in sites(etablissements) if s.category == "620"][:officines]
        rows = []
        for n, site in enumerate(pharmacies):
            # As FINESS has them, except a tenth renamed since: what the comparison must find.
            rows.append(
                Officine(
                    editor=editor,
                    finess=site.finess,
                    raison_sociale=f"PHARMACIE {n}" if n % 10 == 0 else site.name.title(),
                    address=f"{site.number} rue {site.street.lower()}",
                    postal_code=site.postal_code,
                    city="Lyon",
                    department=site.department,
                )
            )
        Officine.objects.bulk_create(rows, batch_size=2000)
        common.analyze()
        started = time.perf_counter()
        to_verify = finess_compare_editor(editor_id=editor.pk)
        compare = time.perf_counter() - started
        log(f"compare {len(rows)} officines: {compare:.2f} s ({to_verify} to verify)")
        started = time.perf_counter()
        finess_compare_editor(editor_id=editor.pk)
        again = time.perf_counter() - started
        log(f"compare again (nothing changed): {again:.2f} s")
        results.append(
            common.row(
                "finess.compare",
                compare,
                "s",
                COMPARE_SECONDS * len(rows) / TARGET_OFFICINES,
                f"{len(rows)} officines",
            )
        )
    finally:
        common.retire_editors([editor.pk])
    return results


def run(quick: bool) -> list[dict]:
    """Entry point for bench/run."""
    if quick:
        return measure(2_000, 500)
    return measure(TARGET_ETABLISSEMENTS, TARGET_OFFICINES)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--etablissements", type=int, default=TARGET_ETABLISSEMENTS)
    parser.add_argument("--officines", type=int, default=TARGET_OFFICINES)
    args = parser.parse_args()
    common.setup_django()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor}")
    measure(args.etablissements, args.officines, log=print)


if __name__ == "__main__":
    main()
