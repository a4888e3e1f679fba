"""Fixtures: two tenants (A and B) with every role, so tests can cross the boundary."""

import os

# Celery prefers the CELERY_BROKER_URL environment variable to its configuration. Django has
# read it into settings already; dropping it lets tests point the app at another broker (a dead
# port, their own Redis db) while worker subprocesses still get theirs explicitly.
os.environ.pop("CELERY_BROKER_URL", None)

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

_PRISTINE_CELERY: tuple | None = None  # broker and eager flag as the settings made them


def _reset_celery(app, state: tuple) -> None:
    app.conf.broker_url, app.conf.task_always_eager = state
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture(autouse=True)
def _isolated_celery():
    """Tests that repoint Celery (dead broker, their own Redis db) cannot leak into the next:
    every test starts from the configured broker and eager flag, whatever ran before (a
    module- or session-scoped fixture, or a test that bypassed this one)."""
    global _PRISTINE_CELERY
    from portal import outbox
    from portal.celery import app

    if _PRISTINE_CELERY is None:
        _PRISTINE_CELERY = (app.conf.broker_url, app.conf.task_always_eager)
    app.set_current()
    # Always from fresh pools too: an earlier test that closed its producer pool (to stop
    # reusing a connection to its own Redis db) leaves "Acquire on closed pool" behind.
    _reset_celery(app, _PRISTINE_CELERY)
    outbox._broker_down_until = 0.0
    yield
    outbox._broker_down_until = 0.0
    app.set_current()  # a test creating another Celery app must not capture shared tasks
    if (app.conf.broker_url, app.conf.task_always_eager) != _PRISTINE_CELERY:
        _reset_celery(app, _PRISTINE_CELERY)


@pytest.fixture(autouse=True)
def _coverage_stays_true(request):
    """After every database test, the stored officine coverage must equal what the
    certificates say: a code path that writes certificates without `coverage_refresh`
    fails the test that exercises it."""
    if "db" not in request.fixturenames or "transactional_db" in request.fixturenames:
        yield
        return
    request.getfixturevalue("db")  # our teardown then runs before the rollback
    yield
    from django.db import connection

    from certificates.coverage import coverage_drift

    if connection.connection is None or connection.needs_rollback or not connection.is_usable():
        return
    drift = coverage_drift()
    assert not drift, f"stored coverage differs from the certificates of officines {drift}"


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


# --- Certificates: one IGC Santé-shaped PKI per test session, real keys and certificates.


@pytest.fixture(scope="session")
def pki():
    from certificates.demo_pki import DemoPKI

    return DemoPKI.create()


@pytest.fixture(scope="session")
def shared_key():
    """One RSA key reused by certificates whose key does not matter (saves generation time)."""
    from certificates import x509

    return x509.generate_private_key()


@pytest.fixture
def trust_anchors(pki, tmp_path, settings):
    """TRUST_ANCHORS_DIR filled with the demo production and TEST CA certificates."""
    directory = tmp_path / "trust-anchors"
    directory.mkdir()
    pki.write_trust_anchors(directory)
    settings.TRUST_ANCHORS_DIR = directory
    return directory


@pytest.fixture
def make_certificate(pki, shared_key):
    """Create a Certificate row from a really issued certificate (no import service involved)."""
    return lambda officine, **kwargs: certificate_row(pki, shared_key, officine, **kwargs)


def certificate_row(
    pki,
    key,
    officine,
    *,
    profile="ORG_AUTH_CLI",
    common_name="LGO",
    services=("PSC",),
    not_before=None,
    not_after=None,
    crl_url=None,
    ocsp_url=None,
    **fields,
):
    from datetime import timedelta

    from django.utils import timezone

    from certificates import x509
    from certificates.demo_pki import add_months
    from certificates.models import Certificate

    not_after = not_after or timezone.now() + timedelta(days=700)
    not_before = not_before or not_after - timedelta(days=3 * 365)
    environment = "test" if officine.environment == "test" else "production"
    # `not_after` is when the certificate ends for the portal (`usable_until`): an ORG SIGN is
    # issued like the real ones, its key usable until then and its notAfter a month later.
    key_usage_end = fields.pop("key_usage_end", None)
    if profile == "ORG_SIGN" and key_usage_end is None:
        key_usage_end, not_after = not_after, add_months(not_after, 1)
    _, cert = pki.issue_for(
        finess=officine.finess,
        raison_sociale=officine.raison_sociale,
        department=officine.department_label or "Rhône (69)",
        common_name=common_name,
        profile=x509.Profile(profile),
        environment=environment,
        not_before=not_before,
        not_after=not_after,
        key=key,
        crl_url=crl_url,
        ocsp_url=ocsp_url,
        key_usage_end=key_usage_end,
    )
    info = x509.describe_certificate(cert)
    chain = pki.chain_for(environment)
    return Certificate.objects.create(
        editor_id=officine.editor_id,
        officine=officine,
        profile=profile,
        common_name=common_name,
        services=list(services),
        serial=info.serial,
        subject_dn=info.subject,
        issuer_dn=info.issuer,
        not_before=info.not_before,
        not_after=info.not_after,
        usable_until=info.usable_until,
        fingerprint_sha256=info.fingerprint_sha256,
        public_key_sha256=info.public_key_sha256,
        environment=environment,
        chain_status=f"trusted_{environment}",
        pem=info.pem,
        chain_pem="".join(x509.certificate_to_pem(c) for c in chain),
        **fields,
    )


def administrator_change_for(tenant):
    """A pending form 503 of `tenant` (its officine to a second administrator), made once."""
    from officines.administrator_changes import administrator_change_request
    from officines.models import AdministratorChange

    existing = AdministratorChange.objects.filter(editor=tenant.editor).first()
    if existing is not None:
        return existing
    newcomer = TechnicalAdministratorFactory(editor=tenant.editor, full_name="Nouvel Admin")
    return administrator_change_request(officines=[tenant.officine], new_administrator=newcomer)
