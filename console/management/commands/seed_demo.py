"""Load the demo tenant used by `make run`: one editor, its team, officines and a pharmacist."""

from allauth.mfa.totp.internal.auth import TOTP
from django.core.management.base import BaseCommand
from django.db import transaction

from certificates.demo import seed_certificates
from officines.demo import DEMO_EDITOR, seed_officines
from officines.finess_demo import seed_finess
from officines.models import PharmacistAccess
from portal.models import Editor, Membership, Role, User

DEMO_PASSWORD = "demo-portail-2026"  # noqa: S105 (public demo login)
# Known TOTP secret for the pre-enrolled demo accounts (the admin enrols by itself).
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 (public demo secret)
DEMO_USERS = [
    ("admin@demo.fr", "Alice Admin", Role.ADMIN, False),
    ("operateur@demo.fr", "Olivier Opérateur", Role.OPERATOR, True),
    ("lecteur@demo.fr", "Valérie Lectrice", Role.VIEWER, True),
]
PHARMACIST = ("pharmacien@demo.fr", "Dr Paul Pharmacien")
# The demo pharmacist's RPPS (11 digits, valid Luhn key): a Pro Santé Connect identity with
# SubjectNameID "8" + this number logs in as them (README, "Log in with Pro Santé Connect").
PHARMACIST_RPPS = "10100000016"


class Command(BaseCommand):
    help = "Create the demo editor, users and officines (does nothing if they already exist)."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        if Editor.objects.filter(name=DEMO_EDITOR).exists():
            self.stdout.write("Demo data already present.")
            return
        editor = Editor.objects.create(
            name=DEMO_EDITOR, siren="552100554", contact_email="contact@demo-lgo.fr"
        )
        for email, name, role, enrolled in DEMO_USERS:
            user = User.objects.create_user(email, DEMO_PASSWORD, full_name=name)
            Membership.objects.create(user=user, editor=editor, role=role)
            if enrolled:
                TOTP.activate(user, DEMO_TOTP_SECRET)
        officines = seed_officines(editor)
        email, name = PHARMACIST
        pharmacist = User.objects.create_user(email, DEMO_PASSWORD, full_name=name)
        pharmacist_officine = next(o for o in officines if o.delegation_mode == "pharmacien")
        PharmacistAccess.objects.create(
            user=pharmacist, officine=pharmacist_officine, rpps=PHARMACIST_RPPS
        )
        certificates = seed_certificates(editor, officines)
        refresh = seed_finess(officines)
        finess = (
            f"FINESS extract of {refresh.data_date}: {refresh.to_verify} officines to verify"
            if refresh.status == "done"
            else f"demo FINESS extract not loaded ({refresh.message})"
        )
        self.stdout.write(
            f"Demo editor {editor.name}: {len(officines)} officines, {certificates} certificates; "
            f"{finess}."
        )
