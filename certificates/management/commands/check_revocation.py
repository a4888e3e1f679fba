"""Run a revocation pass (CRLs, OCSP fallback) from the shell: `manage.py check_revocation`."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from certificates.models import Certificate, RevocationRun
from certificates.revocation.services import certificate_revocation_check, revocation_pass
from portal.models import Editor


class Command(BaseCommand):
    help = "Ask IGC Santé (CRL, OCSP) which certificates are revoked, and record it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--editor", help="editor id or exact name: only its certificates")
        parser.add_argument("--certificate", type=int, help="one certificate id (OCSP, then CRL)")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument(
            "--offline-dir",
            default="",
            help="read the CRL files (ACI-EL-ORG.crl...) from this folder, no network",
        )

    def handle(self, *args, **options) -> None:
        editor_id = None
        if options["editor"]:
            value = options["editor"]
            editor = Editor.objects.filter(
                **({"pk": int(value)} if value.isdigit() else {"name": value})
            ).first()
            if editor is None:
                raise CommandError(f"No editor {value!r}.")
            editor_id = editor.pk
        if options["certificate"]:
            certificates = Certificate.objects.filter(pk=options["certificate"])
            if editor_id is not None:
                certificates = certificates.of_editor(editor_id)
            certificate = certificates.first()
            if certificate is None:
                raise CommandError(f"No certificate {options['certificate']}.")
            outcome = certificate_revocation_check(certificate=certificate)
            result = outcome.as_dict()
            result["revoked"] = [certificate.pk] if outcome.revoked else []
        else:
            run, report = revocation_pass(
                trigger=RevocationRun.Trigger.COMMAND,
                editor_id=editor_id,
                offline_dir=options["offline_dir"],
            )
            result = {"run": run.pk, "succeeded": run.succeeded, **report.as_dict()}
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2, default=str))
            return
        for crl in result.get("crls", []):
            self.stdout.write(
                f"{crl['outcome']:>13}  {crl['issuer']}  {crl.get('url', '')}  "
                f"{crl.get('message', '')}".rstrip()
            )
        for check in result.get("ocsp", []) or ([result] if "status" in result else []):
            self.stdout.write(f"OCSP {check['certificate']}: {check['status']} {check['message']}")
        self.stdout.write(f"revoked: {len(result['revoked'])} certificate(s) {result['revoked']}")
