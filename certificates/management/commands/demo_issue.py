"""Play the ANS platform in a demo: sign a request's CSR with the demo CA (DEBUG only)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from certificates import x509
from certificates.demo import demo_pki
from certificates.demo_pki import to_pem_bundle
from certificates.models import CertificateRequest


class Command(BaseCommand):
    help = "Issue a certificate for a request's CSR with the demo IGC Santé CA (demo only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("request_id", type=int)
        parser.add_argument("--output", "-o", type=Path, help="write the PEM here (default stdout)")

    def handle(self, *args, request_id: int, output: Path | None, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("The demo CA is only available with DEBUG on.")
        request = CertificateRequest.objects.filter(pk=request_id).first()
        if request is None or not request.csr_pem:
            raise CommandError(f"Request {request_id} has no CSR yet.")
        environment = "test" if request.officine.environment == "test" else "production"
        pki = demo_pki()
        certificate = pki.issue(
            csr_pem=request.csr_pem.encode(),
            profile=x509.Profile(request.profile),
            environment=environment,
        )
        pem = to_pem_bundle(certificate, *pki.chain_for(environment))
        if output:
            output.write_bytes(pem)
            self.stderr.write(f"Written to {output}: upload it on the request's page.")
        else:
            self.stdout.write(pem.decode())
