"""Demo certificates for `make run`: every status, real chains from a saved demo PKI.

The demo CA lives in var/demo-pki (throwaway keys) and its certificates are written to
TRUST_ANCHORS_DIR, so imported certificates chain to a "trusted" IGC Santé look-alike and
`manage.py demo_issue` can sign the CSRs users create in the portal.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.utils import timezone

from certificates import x509
from certificates.demo_pki import DemoPKI, add_months, to_pem_bundle
from certificates.importing import certificate_import
from certificates.lifecycle import certificate_revoke, installation_report
from certificates.models import Certificate, KeyMode, Profile, RevocationRun
from certificates.ordering import csr_generate, request_create, request_mark_submitted
from certificates.revocation.services import revocation_pass
from officines.models import Officine
from portal.models import Editor


def demo_pki() -> DemoPKI:
    pki = DemoPKI.load_or_create(Path(settings.VAR_DIR) / "demo-pki")
    pki.write_trust_anchors(Path(settings.TRUST_ANCHORS_DIR))
    return pki


def _import(
    pki: DemoPKI,
    editor: Editor,
    officine: Officine,
    key,
    *,
    profile: str,
    cn: str,
    days_left: int,
    services: list[str],
) -> Certificate:
    # `days_left` counts to the end of usable life: an ORG SIGN's notAfter is a month later.
    usable_until = timezone.now() + timedelta(days=days_left)
    signing = profile == x509.Profile.ORG_SIGN
    not_after = add_months(usable_until, 1) if signing else usable_until
    _, cert = pki.issue_for(
        finess=officine.finess,
        raison_sociale=officine.raison_sociale,
        department=officine.department_label,
        common_name=cn,
        profile=x509.Profile(profile),
        not_before=not_after - timedelta(days=3 * 365),
        not_after=not_after,
        key=key,
    )
    bundle = to_pem_bundle(cert, *pki.chain_for("production"))
    report = certificate_import(editor=editor, data=bundle, services=services, filename=f"{cn}.pem")
    result = report.results[0]
    if result.certificate is None:
        raise RuntimeError(f"demo import failed: {result.reason}")
    return result.certificate


def seed_certificates(editor: Editor, officines: list[Officine]) -> int:
    """About 120 certificates: valid, expiring, expired, revoked, superseded, and open requests."""
    pki = demo_pki()
    keys = [x509.generate_private_key() for _ in range(4)]
    count = 0
    for i, officine in enumerate(officines):
        key = keys[i % len(keys)]
        # Expiry spread: most valid, every 7th expiring soon, every 11th already expired.
        days = 15 + (i * 37) % 900
        if i % 7 == 3:
            days = 4 + i % 25
        elif i % 11 == 5:
            days = -(3 + i % 20)
        insi = _import(
            pki,
            editor,
            officine,
            key,
            profile=Profile.ORG_AUTH_CLI,
            cn="INSI-AUTO",
            days_left=days,
            services=["INSI"],
        )
        count += 1
        if i % 3 != 2:  # a third of the officines miss DMP coverage
            for profile in (Profile.ORG_SIGN, Profile.ORG_AUTH_CLI):
                _import(
                    pki,
                    editor,
                    officine,
                    key,
                    profile=profile,
                    cn="LGO DMP",
                    days_left=days + 30,
                    services=["DMP"],
                )
                count += 1
        if i % 2 == 0:
            _import(
                pki,
                editor,
                officine,
                key,
                profile=Profile.ORG_AUTH_CLI,
                cn="LGO PSC",
                days_left=days + 60,
                services=["PSC", "MSSANTE"],
            )
            count += 1
        if i % 5 == 0:
            installation_report(
                certificate=insi, host=f"srv-officine-{i:02d}.local", reported_by="demo"
            )
        if i % 13 == 4:  # renewed: the old certificate becomes superseded
            _import(
                pki,
                editor,
                officine,
                key,
                profile=Profile.ORG_AUTH_CLI,
                cn="INSI-AUTO",
                days_left=days + 3 * 365,
                services=["INSI"],
            )
            count += 1
        if i % 17 == 8:
            certificate_revoke(certificate=insi, reason="data_change", actor=None)
    _open_requests(editor, officines)
    seed_revocation(pki, editor)
    return count


DEMO_CRL_DIR = "demo-crl"


def seed_revocation(pki: DemoPKI, editor: Editor) -> list[int]:
    """The demo CA "revokes" one live certificate in its CRL (var/demo-crl/ACI-EL-ORG.crl,
    the file name of the real CDP); the portal learns it the way it learns from IGC Santé.
    `manage.py check_revocation --offline-dir var/demo-crl` replays it."""
    from cryptography import x509 as cx509

    victim = (
        Certificate.objects.of_editor(editor.pk)
        .live()
        .filter(common_name="LGO PSC", not_after__gt=timezone.now() + timedelta(days=60))
        .order_by("pk")
        .first()
    )
    revoked = []
    if victim is not None:
        when = timezone.now() - timedelta(days=2)
        reason = cx509.ReasonFlags.key_compromise
        revoked = [(int(victim.serial, 16), when, reason)]
    directory = Path(settings.VAR_DIR) / DEMO_CRL_DIR
    directory.mkdir(parents=True, exist_ok=True)
    crl = pki.crl(revoked=revoked, number=int(timezone.now().timestamp()))
    (directory / "ACI-EL-ORG.crl").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    _, report = revocation_pass(
        trigger=RevocationRun.Trigger.COMMAND, editor_id=editor.pk, offline_dir=str(directory)
    )
    return report.revoked


def _open_requests(editor: Editor, officines: list[Officine]) -> None:
    """A few requests in progress: CSR ready, submitted to ANS, and one waiting for its CSR."""
    for n, officine in enumerate(officines[:3]):
        request = request_create(
            officine=officine,
            profile=Profile.ORG_AUTH_CLI,
            services=["ROC"],
            common_name="LGO ROC",
            key_mode=KeyMode.SERVER,
            requester_email="certificats@demo-lgo.fr",
            contact_email=officine.cc_email,
            enqueue=False,
        )
        if n < 2:
            request = csr_generate(request_id=request.pk)
        if n == 1:
            request_mark_submitted(request=request)
    request_create(
        officine=officines[3],
        profile=Profile.ORG_AUTH_CLI,
        services=["PSC"],
        common_name="PROXY PSC",
        key_mode=KeyMode.CSR,
        requester_email="certificats@demo-lgo.fr",
        csr=x509.build_csr(
            private_key=x509.generate_private_key(),
            subject=x509.build_subject(
                department=officines[3].department_label,
                raison_sociale=officines[3].raison_sociale,
                finess=officines[3].finess,
                common_name="PROXY PSC",
            ),
        ),
    )
