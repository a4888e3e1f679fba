"""Tenants and sessions: two editors with every role, logged-in clients, pending forms 503."""

from __future__ import annotations

from dataclasses import dataclass

from django.test import Client

from portal.models import Editor, Role, User
from tests.factories import (
    EditorFactory,
    MembershipFactory,
    OfficineFactory,
    PharmacistAccessFactory,
    TechnicalAdministratorFactory,
    UserFactory,
)


@dataclass
class Tenant:
    editor: Editor
    admin: User
    operator: User
    viewer: User
    pharmacist: User
    officine: object
    pharmacist_officine: object
    administrator: object


def make_tenant(name: str) -> Tenant:
    editor = EditorFactory(name=name)
    users = {
        role: MembershipFactory(
            editor=editor, role=role, user=UserFactory(email=f"{role}@{name.lower()}.fr", totp=True)
        ).user
        for role in (Role.ADMIN, Role.OPERATOR, Role.VIEWER)
    }
    administrator = TechnicalAdministratorFactory(editor=editor)
    officine = OfficineFactory(editor=editor, technical_administrator=administrator)
    pharmacist_officine = OfficineFactory(editor=editor, delegation_mode="pharmacien")
    pharmacist = PharmacistAccessFactory(
        officine=pharmacist_officine, user=UserFactory(email=f"pharmacien@{name.lower()}.fr")
    ).user
    return Tenant(
        editor=editor,
        admin=users[Role.ADMIN],
        operator=users[Role.OPERATOR],
        viewer=users[Role.VIEWER],
        pharmacist=pharmacist,
        officine=officine,
        pharmacist_officine=pharmacist_officine,
        administrator=administrator,
    )


def logged_in(user: User) -> Client:
    """A client with an authenticated session that has passed MFA."""
    client = Client()
    client.force_login(user)
    session = client.session
    session["mfa_enrolled"] = True
    session.save()
    return client


def administrator_change_for(tenant):
    """A pending form 503 of `tenant` (its officine to a second administrator), made once."""
    from officines.administrator_changes import administrator_change_request
    from officines.models import AdministratorChange

    existing = AdministratorChange.objects.filter(editor=tenant.editor).first()
    if existing is not None:
        return existing
    newcomer = TechnicalAdministratorFactory(editor=tenant.editor, full_name="Nouvel Admin")
    return administrator_change_request(officines=[tenant.officine], new_administrator=newcomer)


def multi_relation_users(tenant_a, tenant_b) -> dict[str, tuple[object, object]]:
    """(user, tenant whose objects they see only as a read-only pharmacist) per shape of
    issue 12, item 1: a role held in one tenant never acts on another tenant's rows."""
    from officines.models import PharmacistAccess
    from tests.factories import UserFactory

    def link(user, officine):
        PharmacistAccess.objects.get_or_create(user=user, officine=officine)
        return user

    crosser = link(tenant_b.operator, tenant_a.officine)  # pharmacist of A + staff of B
    two_editors = UserFactory(email="deux-editeurs@pharmacie.fr")
    link(link(two_editors, tenant_a.officine), tenant_b.officine)
    invited = link(tenant_a.admin, tenant_b.officine)  # staff of A invited as pharmacist of B
    return {
        "pharmacist of A + operator of B": (crosser, tenant_a),
        "pharmacist of two editors (A)": (two_editors, tenant_a),
        "pharmacist of two editors (B)": (two_editors, tenant_b),
        "admin of A + pharmacist of B": (invited, tenant_b),
    }
