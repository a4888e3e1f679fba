"""Bulk import of issued certificates (files and folders) for one editor.

Exit status 0 whenever the run completed, rejections included (they are reported, one per
file); non-zero only for usage errors (unknown editor, missing path, unreadable password file).

The PKCS#12 passphrase comes from `--password-file PATH` (first line, its line break
removed), else `--password` (visible to other users in `ps` and kept in the shell history:
a warning says so), else the environment variable IMPORT_PKCS12_PASSWORD.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from certificates.importing import ImportReport, ImportResult, certificates_import_files
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


PKCS12_ENV_VARIABLE = "IMPORT_PKCS12_PASSWORD"


def read_password_file(path: Path) -> tuple[bytes, bool]:
    """The passphrase in `path` (first line, without its line break) and whether the file is
    readable by other users than its owner."""
    try:
        mode = path.stat().st_mode
        with path.open("rb") as handle:
            data = handle.read(4097)
    except OSError as exc:
        raise CommandError(
            f"Cannot read the password file {str(path)!r}: {exc.strerror}."
        ) from None
    if len(data) > 4096:
        raise CommandError(f"The password file {str(path)!r} is too large for a passphrase.")
    password = data.split(b"\n", 1)[0].removesuffix(b"\r")
    if not password:
        raise CommandError(f"The password file {str(path)!r} is empty.")
    return password, bool(mode & (stat.S_IRWXG | stat.S_IRWXO))


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
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument(
            "--password-file",
            type=Path,
            default=None,
            metavar="PATH",
            help="File whose first line is the passphrase of PKCS#12 files.",
        )
        secret.add_argument(
            "--password",
            default=None,
            help=(
                "Passphrase of PKCS#12 files. Visible to other users of the machine (ps, shell "
                f"history): prefer --password-file or the {PKCS12_ENV_VARIABLE} environment "
                "variable."
            ),
        )
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
        password = self._password(options["password_file"], options["password"])
        report = certificates_import_files(
            editor=editor,
            files=read_files(paths),
            password=password,
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

    def _password(self, path: Path | None, given: str | None) -> bytes | None:
        if path is not None:
            password, shared = read_password_file(path)
            if shared:
                self.stderr.write(
                    f"Warning: the password file {str(path)!r} is readable by other users "
                    "(chmod 600 it)."
                )
            return password
        if given is not None:
            self.stderr.write(
                "Warning: --password is visible to other users of this machine (ps) and kept "
                f"in the shell history; use --password-file or {PKCS12_ENV_VARIABLE} instead."
            )
            return given.encode("utf-8")
        from_env = os.environ.get(PKCS12_ENV_VARIABLE)
        return from_env.encode("utf-8") if from_env else None

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
