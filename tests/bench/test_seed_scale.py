"""manage.py seed_scale: the benchmark data set is realistic, real, idempotent, removable."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography import x509 as cx509
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import CommandError, call_command
from django.utils import timezone

from bench.seeding import scale as seed
from bench.seeding.spec import SCALE_PASSWORD, ScaleSpec, editor_name, user_email
from certificates.models import Certificate, Installation
from notifications.models import AlertLog
from officines import identifiers
from officines.models import Officine
from portal.api.keys import api_key_lookup
from portal.models import AuditEvent, Editor, Membership, User

pytestmark = pytest.mark.django_db

SPEC = ScaleSpec(editors=3, officines=120, certificates=600, big=60, prefix="Bench Test")


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    """One demo PKI and key set for the module (they take seconds to generate)."""
    return tmp_path_factory.mktemp("bench")


@pytest.fixture
def seeded(bench_dir, monkeypatch):
    monkeypatch.setattr(seed, "BENCH_DIR", bench_dir)
    return seed.seed_scale(SPEC, processes=1)


def test_sizes_and_shares(seeded):
    assert (seeded.editors, seeded.officines, seeded.certificates) == (3, 120, 600)
    editors = list(Editor.objects.filter(name__startswith="Bench Test ").order_by("name"))
    counts = [Officine.objects.of_editor(e.pk).count() for e in editors]
    assert counts[0] == 60 and sum(counts) == 120 and all(counts)
    certificates = Certificate.objects.filter(editor__in=editors)
    now = timezone.now()
    live = certificates.live()
    expiring = live.filter(usable_until__gt=now, usable_until__lte=now + timedelta(days=30))
    assert expiring.count() == 30  # 5 % of all certificates
    assert live.filter(usable_until__lte=now).exists()
    assert certificates.filter(revoked_at__isnull=False).exists()
    superseded = certificates.filter(superseded_at__isnull=False)
    assert superseded.count() == 120  # 20 %
    assert certificates.filter(replaces__in=superseded).count() == 120
    assert certificates.filter(not_after__gt=now + timedelta(days=2 * 365)).exists()
    slots = {o.pk: 0 for o in Officine.objects.filter(editor__in=editors)}
    for officine_id in certificates.filter(superseded_at__isnull=True).values_list(
        "officine_id", flat=True
    ):
        slots[officine_id] += 1
    assert set(slots.values()) <= {3, 4, 5}  # 3 to 5 current certificates per officine
    assert Installation.objects.filter(certificate__in=certificates).exists()
    assert AlertLog.objects.filter(certificate__in=superseded, status="sent").exists()


def test_certificates_are_real_and_match_their_rows(seeded):
    for c in Certificate.objects.filter(editor__name__startswith="Bench Test ")[:40]:
        cert = cx509.load_pem_x509_certificate(c.pem.encode())
        assert cert.not_valid_after_utc == c.not_after.replace(microsecond=0)
        assert cert.subject.rfc4514_string() == c.subject_dn
        assert f"OU=1{c.officine.finess}" in c.subject_dn
        assert c.chain_pem.count("BEGIN CERTIFICATE") == 2
        identifiers.validate_finess(c.officine.finess)


def test_users_can_log_in_with_the_known_secrets(seeded):
    from allauth.mfa.models import Authenticator

    user = User.objects.get(email=user_email(1, "viewer", "Bench Test"))
    assert PBKDF2PasswordHasher().verify(SCALE_PASSWORD, user.password)
    assert Membership.objects.get(user=user).role == "viewer"
    assert Authenticator.objects.filter(user=user, type="totp").exists()
    raw_keys = json.loads((seed.BENCH_DIR / "scale-api-keys.json").read_text())
    (keys,) = raw_keys.values()
    key = api_key_lookup(keys[editor_name(1, "Bench Test")])
    assert key is not None and key.editor.name == editor_name(1, "Bench Test")


def test_second_run_does_nothing_and_reset_retires(seeded):
    again = seed.seed_scale(SPEC, processes=1)
    assert again.skipped and again.certificates == 600
    assert seed.scale_delete("Bench Test") == 3
    assert not Officine.objects.filter(editor__name__contains="Bench Test").exists()
    assert not User.objects.filter(email__contains="bench-test").exists()
    retired = Editor.objects.filter(name__startswith="retired ", is_active=False)
    assert retired.count() == 3
    assert AuditEvent.objects.filter(editor__in=retired).exists()  # append-only: kept


def test_refuses_to_retire_a_real_tenant(tenant_a):
    with pytest.raises(CommandError):
        seed.retire_editors([tenant_a.editor.pk])
    assert Officine.objects.filter(editor=tenant_a.editor).exists()


def test_command(bench_dir, monkeypatch, capsys):
    monkeypatch.setattr(seed, "BENCH_DIR", bench_dir)
    args = ["--editors", "2", "--officines", "20", "--certificates", "60", "--processes", "1"]
    call_command("seed_scale", *args, "--prefix", "Bench Cmd")
    call_command("seed_scale", *args, "--prefix", "Bench Cmd")
    out = capsys.readouterr().out
    assert '"certificates": 60' in out and "nothing done" in out
