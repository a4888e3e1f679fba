"""Onboard a tenant: create the editor and invite its first admin."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from portal import services
from portal.models import Role


class Command(BaseCommand):
    help = (
        "Create an editor (tenant) and invite its first administrator. Prints the editor id last."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--siren", default="")
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--contact-email", default="")

    def handle(self, *args, name: str, siren: str, admin_email: str, contact_email: str, **opts):
        try:
            with transaction.atomic():
                editor = services.editor_create(
                    name=name, siren=siren, contact_email=contact_email or admin_email
                )
                _, token = services.invitation_create(
                    editor=editor, email=admin_email, role=Role.ADMIN
                )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stderr.write(f"Invitation sent to {admin_email}: {services.invitation_url(token)}")
        self.stdout.write(str(editor.pk))
