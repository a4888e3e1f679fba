"""Wrong passwords lock one (account, address) pair with a growing delay, never the account.

Before, five failures locked the account for everybody: anyone could lock a known admin
out (issue 12, finding 11).
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from portal import login_lockout
from portal.models import AuditEvent
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock(monkeypatch):
    """The lockout's wall clock, moved by hand."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(login_lockout.time, "time", lambda: now[0])
    return now


def attempt(address: str, email: str, password: str):
    client = Client(REMOTE_ADDR=address)
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_five_failures_lock_that_address_only_and_tell_the_owner(tenant_a, mailoutbox, clock):
    user = MembershipFactory(
        editor=tenant_a.editor, role="viewer", user=UserFactory(email="lecteur@x.fr")
    ).user
    answers = [attempt(ATTACKER, user.email, "wrong password!").status_code for _ in range(5)]
    assert answers == [200, 200, 200, 200, 429]
    locked = attempt(ATTACKER, user.email, PASSWORD)  # even the right password, from there
    assert locked.status_code == 429
    assert locked["Retry-After"] == "60"
    assert "Réessayez dans 1 minute" in locked.content.decode()
    # The owner, from their own address, still gets in.
    assert attempt(OWNER, user.email, PASSWORD).status_code == 302
    assert attempt(OWNER.replace(".7", ".8"), "LECTEUR@x.fr", PASSWORD).status_code == 302
    # One e-mail to the owner, naming the address; one audit event.
    assert [m.to for m in mailoutbox] == [[user.email]]
    assert ATTACKER in mailoutbox[0].body and "pendant 1 minute ;" in mailoutbox[0].body
    event = AuditEvent.objects.get(action="login.locked")
    assert event.actor_id == user.pk and event.details == {"address": ATTACKER, "seconds": 60}


def test_the_delay_grows_and_a_success_resets_it(tenant_a, mailoutbox, clock):
    user = MembershipFactory(
        editor=tenant_a.editor, role="viewer", user=UserFactory(email="lecteur@x.fr")
    ).user
    for _ in range(5):
        attempt(ATTACKER, user.email, "wrong password!")
    clock[0] += 61  # first lock over: five more failures lock for twice as long
    for _ in range(4):
        assert attempt(ATTACKER, user.email, "wrong password!").status_code == 200
    second = attempt(ATTACKER, user.email, "wrong password!")
    assert (second.status_code, second["Retry-After"]) == (429, "120")
    clock[0] += 119
    assert attempt(ATTACKER, user.email, PASSWORD)["Retry-After"] == "1"
    clock[0] += 1
    assert attempt(ATTACKER, user.email, PASSWORD).status_code == 302  # success resets
    for _ in range(4):
        attempt(ATTACKER, user.email, "wrong password!")
    assert attempt(ATTACKER, user.email, "wrong password!")["Retry-After"] == "60"
    assert len(mailoutbox) == 1  # at most one notice an hour


def test_unknown_accounts_lock_the_same_way_without_mail(mailoutbox, clock):
    answers = [attempt(ATTACKER, "nobody@x.fr", "wrong password!").status_code for _ in range(5)]
    assert answers[-1] == 429 and mailoutbox == []
