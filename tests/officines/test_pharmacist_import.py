"""CSV import of pharmacists: invitations naming the RPPS, RPPS on existing accesses, and
nothing written when a row is wrong."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from officines.identifiers import luhn_check_digit
from officines.models import PharmacistAccess
from portal.models import AuditEvent, Invitation, InvitationKind

pytestmark = pytest.mark.django_db

URL = reverse("officines:pharmacist_import")


def rpps(serial: int) -> str:
    payload = f"1000{serial:06d}"
    return payload + luhn_check_digit(payload)


def upload(client, text: str, encoding: str = "utf-8"):
    data = SimpleUploadedFile("pharmaciens.csv", text.encode(encoding), "text/csv")
    return client.post(URL, {"file": data})


def test_import_invites_and_records_rpps(tenant_a, client_for, django_capture_on_commit_callbacks):
    client = client_for(tenant_a.admin)
    page = client.get(URL)
    assert page.status_code == 200
    pharmacist = tenant_a.pharmacist
    officine, other = tenant_a.pharmacist_officine, tenant_a.officine
    text = (
        "E-mail;FINESS;RPPS\n"
        f"{pharmacist.email};{officine.finess};{rpps(11)}\n"
        f"nouvelle@pharma.fr;{officine.finess};{rpps(12)}\n"
        f"Nouvelle@pharma.fr;{other.finess};\n"
        f"sans-rpps@pharma.fr;{other.finess};\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, text)
    assert response.status_code == 302, response.content.decode()[:2000]
    access = PharmacistAccess.objects.get(user=pharmacist, officine=officine)
    assert access.rpps == rpps(11)
    invitation = Invitation.objects.get(email="nouvelle@pharma.fr")
    assert invitation.kind == InvitationKind.PHARMACIST and invitation.rpps == rpps(12)
    assert set(invitation.officines.all()) == {officine, other}
    assert Invitation.objects.get(email="sans-rpps@pharma.fr").rpps == ""
    assert len(mail.outbox) == 2
    assert AuditEvent.objects.filter(action="pharmacist.import").exists()


def test_a_bad_row_writes_nothing_and_says_which_line(tenant_a, tenant_b, client_for):
    client = client_for(tenant_a.admin)
    officine = tenant_a.pharmacist_officine
    wrong_key = rpps(13)[:-1] + str((int(rpps(13)[-1]) + 1) % 10)
    text = (
        "email,finess,rpps\n"
        f"ok@pharma.fr,{officine.finess},{rpps(14)}\n"
        f"pas-un-email,{officine.finess},\n"
        f"cle@pharma.fr,{officine.finess},{wrong_key}\n"
        f"ailleurs@pharma.fr,{tenant_b.officine.finess},\n"
        f"{tenant_a.operator.email},{officine.finess},\n"
        f"{tenant_a.pharmacist.email},{officine.finess},{rpps(14)}\n"
    )
    response = upload(client, text)
    assert response.status_code == 400
    errors = [(e.row, e.field) for e in response.context["errors"]]
    assert errors == [(3, "email"), (4, "rpps"), (5, "finess"), (6, "email"), (7, "rpps")]
    assert "Ligne" in response.content.decode() or "Line" in response.content.decode()
    assert not Invitation.objects.exists()
    assert PharmacistAccess.objects.get(user=tenant_a.pharmacist).rpps == ""


def test_bad_files_and_roles(tenant_a, client_for):
    client = client_for(tenant_a.admin)
    assert upload(client, "nom;ville\nA;B\n").status_code == 400
    assert upload(client, "").status_code == 400
    for user in (tenant_a.operator, tenant_a.viewer, tenant_a.pharmacist):
        assert client_for(user).get(URL).status_code == 403
    assert not Invitation.objects.exists()
