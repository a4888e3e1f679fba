"""Create an API key for an editor from the command line; the key is printed once, last."""

from __future__ import annotations

from datetime import datetime, time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from officines.identifiers import normalize_finess
from officines.models import Officine
from portal.api.keys import api_key_create
from portal.models import Editor


class Command(BaseCommand):
    help = (
        "Create an API key for an editor. Prints the key alone on the last line: it is shown "
        "only this once (only its hash is stored)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--editor", required=True, help="Editor id or exact name.")
        parser.add_argument("--name", required=True, help="Label shown in key lists.")
        parser.add_argument(
            "--scopes", required=True, help="Comma-separated: read, write, keys:export."
        )
        parser.add_argument("--officine", default="", help="FINESS: limit the key to it.")
        parser.add_argument(
            "--expires",
            default="",
            help="YYYY-MM-DD: the key stops working at 00:00 (Europe/Paris) that day.",
        )

    def handle(
        self, *args, editor: str, name: str, scopes: str, officine: str, expires: str, **options
    ) -> None:
        found = self._editor(editor)
        limited = None
        if officine:
            limited = (
                Officine.objects.of_editor(found.pk)
                .filter(finess=normalize_finess(officine))
                .first()
            )
            if limited is None:
                raise CommandError(f"No officine with FINESS {officine} for {found.name}.")
        expires_at = None
        if expires:
            try:
                day = datetime.strptime(expires, "%Y-%m-%d").date()
            except ValueError as exc:
                raise CommandError("--expires must be a date as YYYY-MM-DD.") from exc
            expires_at = timezone.make_aware(datetime.combine(day, time.min))
        try:
            api_key, raw_key = api_key_create(
                editor=found,
                name=name,
                scopes=scopes,
                officine=limited,
                expires_at=expires_at,
                actor=None,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stderr.write(
            f"API key {api_key.prefix}… ({', '.join(api_key.scopes)}) created for "
            f"{found.name}. Store it now: it will not be shown again."
        )
        self.stdout.write(raw_key)

    def _editor(self, value: str) -> Editor:
        editor = None
        if value.isdigit():
            editor = Editor.objects.filter(pk=int(value)).first()
        if editor is None:
            editor = Editor.objects.filter(name=value).first()
        if editor is None:
            raise CommandError(f"No editor {value!r} (give its id or exact name).")
        return editor
