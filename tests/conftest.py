"""Fixtures: two tenants (A and B) with every role, so tests can cross the boundary."""

from dataclasses import dataclass

import pytest
from django.core.cache import cache
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


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


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


@pytest.fixture
def tenant_a(db) -> Tenant:
    return make_tenant("EditeurA")


@pytest.fixture
def tenant_b(db) -> Tenant:
    return make_tenant("EditeurB")


def logged_in(user: User) -> Client:
    """A client with an authenticated session that has passed MFA."""
    client = Client()
    client.force_login(user)
    session = client.session
    session["mfa_enrolled"] = True
    session.save()
    return client


@pytest.fixture
def client_for():
    return logged_in
