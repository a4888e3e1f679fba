"""manage.py restore_drill: dump the database, restore it into a fresh one, check the copy.

Exit status 0 when every table, every audit event and every encrypted secret came back
usable; 1 with the list of what did not. `--seed` first loads the demo data plus a webhook
endpoint into the configured database (a scratch one: CI), so there is something to check.
"""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from notifications.models import WebhookEndpoint, WebhookEvent
from notifications.webhooks.endpoints import endpoint_create
from officines.demo import DEMO_EDITOR
from ops.restore_drill import DrillError, run_drill
from portal.models import Editor

DRILL_WEBHOOK_URL = "https://lgo-restore-drill.example/hooks/portal"


def seed() -> None:
    """The demo tenant (officines, requests with server-generated keys), one webhook
    endpoint with its encrypted secret, and their audit events. Idempotent."""

    call_command("seed_demo", verbosity=0)
    editor = Editor.objects.get(name=DEMO_EDITOR)
    if not WebhookEndpoint.objects.filter(editor=editor, url=DRILL_WEBHOOK_URL).exists():
        endpoint_create(
            editor=editor,
            url=DRILL_WEBHOOK_URL,
            events=[WebhookEvent.EXPIRING],
            description="restore drill",
        )


class Command(BaseCommand):
    help = (
        "Dump the configured PostgreSQL database, restore it into a fresh database and check "
        "that every table, audit event and encrypted secret came back usable."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--seed", action="store_true", help="load demo data first (scratch databases only)"
        )
        parser.add_argument(
            "--target", help="name of the database to restore into (default: <name>_restore_drill)"
        )
        parser.add_argument(
            "--keep", action="store_true", help="keep the restored database for inspection"
        )

    def handle(self, *args, seed: bool = False, target=None, keep=False, **options) -> None:
        if seed:
            globals()["seed"]()
        try:
            report = run_drill(target=target, keep=keep)
        except DrillError as exc:
            raise CommandError(str(exc)) from exc
        opened = ", ".join(f"{n} {label}" for label, n in report.opened.items())
        self.stdout.write(
            f"Restore drill: {report.source} -> {report.target}: dump {report.dump_bytes} "
            f"bytes, {report.tables} tables, {report.rows} rows, {report.audit_events} audit "
            f"events; opened {opened}."
        )
        if not report.ok:
            for failure in report.failures:
                self.stderr.write(f"  FAILED {failure}")
            raise CommandError(f"restore drill failed: {len(report.failures)} problem(s)")
        self.stdout.write(self.style.SUCCESS("Restore drill passed."))
