"""Bulk import of issued certificates (files and folders) for one editor.

Exit status 0 whenever the run completed, rejections included (they are reported, one per
file); non-zero only for usage errors (unknown editor, missing path).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from certificates.imports import ImportReport, ImportResult, certificates_import_files
from certificates.models import Service
from certificates.representation import import_result_dict
from portal.models import Editor


@dataclass(frozen=True)
class CommandActor:
    """Audit label of imports run from the shell (no portal user behind them)."""

    audit_label: str = "manage.py import_certificates"


def find_editor(value: str) -> Editor:
    """An editor by id or by exact (case-insensitive) name."""
    editor = None
    if value.isdigit():
        editor = Editor.objects.filter(pk=int(value)).first()
    if editor is None:
        editor = Editor.objects.filter(name__iexact=value).first()
    if editor is None:
        raise CommandError(f"Unknown editor: {value!r} (give its id or its exact name).")
    if not editor.is_active:
        raise CommandError(f"Editor {editor.name!r} is deactivated.")
    return editor


def iter_files(paths: list[Path]) -> Iterator[Path]:
    """Files given, and files under folders given (recursive, sorted, hidden ones skipped)."""
    for path in paths:
        if path.is_file():
            yield path
            continue
        found: list[Path] = []
        for root, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found.extend(Path(root) / name for name in files if not name.startswith("."))
        yield from sorted(found)


def read_files(paths: list[Path]) -> Iterator[tuple[str, bytes]]:
    """(name, content) read lazily; a huge file is cut one byte over the limit, then refused."""
    limit = settings.MAX_UPLOAD_SIZE + 1
    for path in iter_files(paths):
        with path.open("rb") as handle:
            yield str(path), handle.read(limit)


class Command(BaseCommand):
    help = (
        "Import issued certificates (PEM, DER, PKCS#7, PKCS#12) from files and folders "
        "for one editor. Prints one line (or JSON object) per file and a summary."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
        parser.add_argument("--editor", required=True, help="Editor id or exact name.")
        parser.add_argument(
            "--create-officines",
            action="store_true",
            help="Create officines of unknown FINESS from the certificate subject.",
        )
        parser.add_argument("--password", default=None, help="Passphrase of PKCS#12 files.")
        parser.add_argument(
            "--service",
            action="append",
            choices=Service.values,
            default=[],
            help="Service of certificates matching no request (repeatable).",
        )
        parser.add_argument(
            "--allow-untrusted",
            action="store_true",
            help="Import certificates of unrecognised authorities (flagged untrusted).",
        )
        parser.add_argument("--json", action="store_true", help="Print a JSON array.")

    def handle(self, *args, **options) -> None:
        editor = find_editor(options["editor"])
        paths: list[Path] = options["paths"]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"No such file or folder: {', '.join(missing)}")
        password = options["password"]
        report = certificates_import_files(
            editor=editor,
            files=read_files(paths),
            password=password.encode("utf-8") if password is not None else None,
            actor=CommandActor(),
            create_officines=options["create_officines"],
            allow_untrusted=options["allow_untrusted"],
            services=options["service"],
        )
        if options["json"]:
            rows = [import_result_dict(r) for r in report.results]
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            self._table(report)

    def _table(self, report: ImportReport) -> None:
        for result in report.results:
            self.stdout.write(_line(result))
            for warning in result.warnings:
                self.stdout.write(f"    ! {warning}")
        self.stdout.write(summary(report))


_STYLE_WIDTH = {"result": 9, "finess": 9, "profile": 12, "cn": 20}


def _line(result: ImportResult) -> str:
    certificate = result.certificate
    finess = certificate.officine.finess if certificate else "-"
    profile = certificate.profile if certificate else "-"
    common_name = certificate.common_name if certificate else "-"
    width = _STYLE_WIDTH
    return (
        f"{result.result:<{width['result']}} {finess:<{width['finess']}} "
        f"{profile:<{width['profile']}} {common_name[: width['cn']]:<{width['cn']}} "
        f"{result.file}  {result.reason}"
    )


def summary(report: ImportReport) -> str:
    files = len({r.file for r in report.results})
    return (
        f"{files} file(s): {len(report.imported)} imported, "
        f"{len(report.duplicates)} duplicate(s), {len(report.rejected)} rejected."
    )
