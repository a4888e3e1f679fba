import re
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from portal.models import Editor, Invitation

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_editor_prints_id_last_and_invites_admin():
    out = StringIO()
    call_command(
        "create_editor",
        "Logiciels Santé Ouest",
        "--siren",
        "552100554",
        "--admin-email",
        "chef@lso.fr",
        stdout=out,
        stderr=StringIO(),
    )
    last_line = out.getvalue().strip().splitlines()[-1]
    editor = Editor.objects.get(name="Logiciels Santé Ouest")
    assert last_line == str(editor.pk)
    invitation = Invitation.objects.get(editor=editor)
    assert invitation.role == "admin"
    assert invitation.email == "chef@lso.fr"
    assert re.search(r"/invitations/\S+/", mail.outbox[0].body)


def test_create_editor_refuses_bad_siren_and_creates_nothing():
    with pytest.raises(CommandError):
        call_command(
            "create_editor",
            "X",
            "--siren",
            "12",
            "--admin-email",
            "a@b.fr",
            stdout=StringIO(),
            stderr=StringIO(),
        )
    assert not Editor.objects.exists()


def test_seed_demo_builds_the_demo_tenant_once(settings, tmp_path):
    from certificates.models import Certificate, CertificateRequest

    settings.VAR_DIR = tmp_path
    settings.TRUST_ANCHORS_DIR = tmp_path / "anchors"
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    editor = Editor.objects.get()
    assert editor.officines.count() == 50
    assert editor.memberships.count() == 3
    statuses = {c.current_status for c in Certificate.objects.with_status()}
    assert statuses == {"valid", "expiring", "expired", "revoked", "superseded"}
    assert set(Certificate.objects.values_list("chain_status", flat=True)) == {"trusted_production"}
    # One certificate revoked by the demo CA's CRL, learnt like a revocation by IGC Santé.
    by_crl = Certificate.objects.get(revocation_source="crl")
    assert by_crl.revocation_reason == "key_compromise"
    assert (tmp_path / "demo-crl" / "ACI-EL-ORG.crl").exists()
    assert {"pending", "csr_ready", "submitted"} <= set(
        CertificateRequest.objects.values_list("status", flat=True)
    )
