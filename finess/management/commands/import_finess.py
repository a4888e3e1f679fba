"""`manage.py import_finess PATH_OR_URL`: load a FINESS extract (CSV or FiNESS+ JSON)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from finess.models import RefreshKind, RefreshStatus
from finess.services import referential_import


class Command(BaseCommand):
    help = (
        "Load a FINESS file (historical CSV extract or FiNESS+ JSON structures flow, optionally "
        "gzipped) from a path or an http(s) URL. A full file replaces the referential, a daily "
        "(« journalier ») file updates the établissements it contains; then every editor's "
        "officines are compared with it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("source", help="file path or http(s) URL")
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--daily",
            action="store_const",
            const=RefreshKind.DAILY,
            dest="kind",
            help="update the établissements of the file (default when the name says journalier)",
        )
        group.add_argument(
            "--full",
            action="store_const",
            const=RefreshKind.FULL,
            dest="kind",
            help="replace the whole referential (default)",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="load a full file even if it is much smaller than the current referential",
        )

    def handle(self, *args, source: str, kind: str | None, force: bool, **options) -> None:
        refresh = referential_import(source=source, kind=kind, force=force)
        refresh.refresh_from_db()
        if refresh.status != RefreshStatus.DONE:
            raise CommandError(f"FINESS file refused: {refresh.message}")
        self.stdout.write(
            f"{refresh.get_kind_display()}: {refresh.loaded} établissements read "
            f"({refresh.file_format}, data of {refresh.data_date or 'unknown date'}); "
            f"{refresh.total} in the referential."
        )
        if refresh.to_verify is not None:
            self.stdout.write(f"Officines to verify (FINESS): {refresh.to_verify}.")
