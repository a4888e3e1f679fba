"""People join by invitation only: the mail carries a one-time link to set a password."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from officines.models import PharmacistAccess
from portal.models import Membership, User
from portal.tenancy import user_scope

pytestmark = pytest.mark.django_db


def link_from_mail() -> str:
    match = re.search(r"https?://[^/\s]+(/invitations/[^/\s]+/)", mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return match.group(1)


def test_open_signup_is_closed(client):
    response = client.post(
        reverse("account_signup"),
        {"email": "intrus@example.fr", "password1": "x" * 16, "password2": "x" * 16},
    )
    assert not User.objects.filter(email="intrus@example.fr").exists()
    assert response.status_code in (200, 302, 403)


def test_admin_invites_a_colleague_who_sets_a_password(
    tenant_a, client_for, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(tenant_a.admin).post(
            reverse("team"), {"email": "Nouveau@Editeur.fr", "kind": "member", "role": "operator"}
        )
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["nouveau@editeur.fr"]
    assert "Invitation" in mail.outbox[0].subject
    link = link_from_mail()

    newcomer = Client()
    assert newcomer.get(link).status_code == 200
    response = newcomer.post(
        link,
        {
            "full_name": "Nina Nouvelle",
            "password1": "un-mot-de-passe-solide",
            "password2": "un-mot-de-passe-solide",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="nouveau@editeur.fr")
    assert user.check_password("un-mot-de-passe-solide")
    assert Membership.objects.get(user=user).role == "operator"
    assert user_scope(user).editor_id == tenant_a.editor.pk

    # The link works once.
    again = Client()
    assert again.get(link).status_code == 404
    assert (
        again.post(
            link, {"full_name": "X", "password1": "a" * 14, "password2": "a" * 14}
        ).status_code
        == 404
    )


def test_pharmacist_invitation_links_only_chosen_officines(
    tenant_a, client_for, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(tenant_a.admin).post(
            reverse("team"),
            {
                "email": "titulaire@officine.fr",
                "kind": "pharmacist",
                "officines": [tenant_a.officine.pk],
            },
        )
    link = link_from_mail()
    Client().post(
        link, {"full_name": "Dr T", "password1": "pharmacie-2026!", "password2": "pharmacie-2026!"}
    )
    user = User.objects.get(email="titulaire@officine.fr")
    assert list(PharmacistAccess.objects.filter(user=user).values_list("officine", flat=True)) == [
        tenant_a.officine.pk
    ]
    assert not Membership.objects.filter(user=user).exists()


def test_admin_cannot_invite_with_foreign_officine(tenant_a, tenant_b, client_for):
    response = client_for(tenant_a.admin).post(
        reverse("team"),
        {"email": "x@officine.fr", "kind": "pharmacist", "officines": [tenant_b.officine.pk]},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["officines"]
    assert not mail.outbox


def test_member_of_another_editor_cannot_be_invited(tenant_a, tenant_b, client_for):
    response = client_for(tenant_a.admin).post(
        reverse("team"), {"email": tenant_b.viewer.email, "kind": "member", "role": "viewer"}
    )
    assert response.status_code == 200
    assert (
        "already belongs" in str(response.context["form"].non_field_errors())
        or response.context["form"].errors
    )


def test_weak_password_is_refused(tenant_a, django_capture_on_commit_callbacks):
    from portal.services import invitation_create

    with django_capture_on_commit_callbacks(execute=True):
        invitation_create(editor=tenant_a.editor, email="faible@editeur.fr", role="viewer")
    response = Client().post(
        link_from_mail(), {"full_name": "F", "password1": "123", "password2": "123"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["password1"]
    assert not User.objects.filter(email="faible@editeur.fr").exists()


def test_expired_invitation_is_refused(tenant_a, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from portal.models import Invitation
    from portal.services import invitation_create

    with django_capture_on_commit_callbacks(execute=True):
        invitation, _token = invitation_create(editor=tenant_a.editor, email="tard@editeur.fr")
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert Client().get(link_from_mail()).status_code == 404


def test_login_page_says_access_is_by_invitation(client):
    body = client.get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert reverse("account_signup") not in body
    assert "uniquement sur invitation" in body
