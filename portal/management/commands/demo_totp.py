"""Print the current TOTP code of a demo account, so `make run` users can pass the MFA step."""

from allauth.mfa.adapter import get_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone


def current_code(secret: str) -> str:
    counter = int(timezone.now().timestamp()) // 30
    return format_hotp_value(hotp_value(secret, counter))


class Command(BaseCommand):
    help = "Print the current TOTP code of a user (DEBUG only) or of a given secret."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", nargs="?")
        parser.add_argument("--secret", help="a base32 secret, e.g. the one shown while enrolling")

    def handle(self, *args, email: str | None, secret: str | None, **opts) -> None:
        if secret:
            self.stdout.write(current_code(secret.replace(" ", "").upper()))
            return
        if not settings.DEBUG:
            raise CommandError("Only available with DEBUG on (demo data).")
        authenticator = Authenticator.objects.filter(
            user__email=(email or "").lower(), type=Authenticator.Type.TOTP
        ).first()
        if authenticator is None:
            raise CommandError(f"No TOTP enrolled for {email!r}.")
        self.stdout.write(current_code(get_adapter().decrypt(authenticator.data["secret"])))
