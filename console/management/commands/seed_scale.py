"""`manage.py seed_scale`: the command line of the national-scale benchmark data set.

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python manage.py seed_scale --editors 10 --officines 20000 --certificates 100000

What it writes and how: bench/seeding/scale.py. This command only parses its arguments and
reports (console is the layer above bench).
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench.seeding.scale import api_keys_file, scale_delete, seed_scale
from bench.seeding.spec import (
    SCALE_PASSWORD,
    SCALE_PREFIX,
    SCALE_TOTP_SECRET,
    ScaleSpec,
    user_email,
)


class Command(BaseCommand):
    help = "Fill the database with national-scale benchmark data (see bench/ and BENCHMARKS.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--editors", type=int, default=10)
        parser.add_argument("--officines", type=int, default=20_000)
        parser.add_argument("--certificates", type=int, default=100_000)
        parser.add_argument(
            "--big", type=int, default=None, help="officines of editor 1 (default 10,000)"
        )
        parser.add_argument("--prefix", default=SCALE_PREFIX, help="editor name prefix")
        parser.add_argument("--processes", type=int, default=None, help="signing processes")
        parser.add_argument(
            "--reset", action="store_true", help="delete the editors of this prefix first"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["editors"] < 1 or options["officines"] < 0 or options["certificates"] < 0:
            raise CommandError("Sizes must be positive (at least one editor).")
        spec = ScaleSpec(
            editors=options["editors"],
            officines=options["officines"],
            certificates=options["certificates"],
            big=options["big"],
            prefix=options["prefix"],
        )
        if options["reset"]:
            started = time.perf_counter()
            deleted = scale_delete(spec.prefix)
            self.stdout.write(
                f"Deleted {deleted} bench editors ({time.perf_counter() - started:.1f} s)."
            )
        report = seed_scale(spec, processes=options["processes"], log=self.stdout.write)
        if report.skipped:
            self.stdout.write(
                f"Bench data already present ({report.editors} editors, {report.officines} "
                f"officines, {report.certificates} certificates): nothing done. "
                "Use --reset to rebuild it."
            )
            return
        self.stdout.write(json.dumps(report.as_dict()))
        self.stdout.write(
            f"Logins: {user_email(1, 'admin', spec.prefix)} (and operator@, viewer@), password "
            f"{SCALE_PASSWORD!r}, TOTP secret {SCALE_TOTP_SECRET}; API keys in {api_keys_file()}"
        )
