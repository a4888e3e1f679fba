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


def test_seed_demo_builds_the_demo_tenant_once():
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    editor = Editor.objects.get()
    assert editor.officines.count() == 50
    assert editor.memberships.count() == 3
