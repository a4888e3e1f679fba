"""Renewal campaigns: selection, worker progress, crash-resume, ZIP for ANS, tenant isolation.

Keys are real: EC P-256 where the key type does not matter (fast), RSA 2048 for the
ZIP checked with `openssl req -verify`. Crashes are simulated by a wrapper around
`csr_generate` that raises after k calls; the key generation itself is never mocked.
"""

from __future__ import annotations

import csv
import io
import subprocess
import zipfile
from datetime import timedelta

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from certificates import campaigns
from certificates import ordering as requests
from certificates.campaign_worker import campaign_run
from certificates.campaigns import campaign_create, campaign_zip
from certificates.models import (
    CampaignStatus,
    CertificateRequest,
    RenewalCampaign,
    RequestStatus,
)
from portal.models import AuditEvent
from tests.factories import OfficineFactory
from tests.helpers.campaigns import assert_each_certificate_renewed_once, campaign_requests, create
from tests.helpers.tools import OPENSSL, requires_openssl


@pytest.fixture
def fleet(tenant_a, tenant_b, make_certificate):
    """Tenant A: 6 certificates expiring soon (one expired), 2 far off, 1 revoked, 1 superseded,
    1 on a deactivated officine. Tenant B: 2 expiring soon."""
    now = timezone.now()
    editor = tenant_a.editor
    officines = [tenant_a.officine] + [OfficineFactory(editor=editor) for _ in range(3)]
    soon = [
        make_certificate(
            officines[0],
            common_name="INSI-AUTO",
            services=("INSI",),
            not_after=now + timedelta(days=20),
        ),
        make_certificate(
            officines[0],
            profile="ORG_SIGN",
            common_name="DMP SIGN",
            services=("DMP",),
            not_after=now + timedelta(days=25),
        ),
        make_certificate(
            officines[1],
            common_name="Proxy DMP",
            services=("DMP",),
            not_after=now + timedelta(days=40),
        ),
        make_certificate(
            officines[2], common_name="LGO", services=("PSC",), not_after=now + timedelta(days=50)
        ),
        make_certificate(
            officines[3], common_name="LGO", services=("PSC",), not_after=now - timedelta(days=3)
        ),
        make_certificate(
            officines[3],
            common_name="INSI-MANU",
            services=("INSI",),
            not_after=now + timedelta(days=59),
        ),
    ]
    far = [
        make_certificate(officines[1], common_name="LGO", services=("PSC",)),
        make_certificate(officines[2], common_name="INSI-AUTO", services=("INSI",)),
    ]
    revoked = make_certificate(
        officines[1],
        common_name="OLD",
        not_after=now + timedelta(days=5),
        revoked_at=now,
        revocation_reason="other",
    )
    superseded = make_certificate(
        officines[2], common_name="OLD", not_after=now + timedelta(days=5), superseded_at=now
    )
    closed = OfficineFactory(editor=editor, is_active=False)
    inactive = make_certificate(closed, not_after=now + timedelta(days=5))
    foreign = [
        make_certificate(tenant_b.officine, not_after=now + timedelta(days=10)),
        make_certificate(
            tenant_b.officine,
            common_name="INSI-AUTO",
            services=("INSI",),
            not_after=now + timedelta(days=10),
        ),
    ]
    return {
        "soon": soon,
        "far": far,
        "revoked": revoked,
        "superseded": superseded,
        "inactive": inactive,
        "foreign": foreign,
    }


def ids(certificates):
    return [c.pk for c in certificates]


# --------------------------------------------------------------------------- creation


def test_within_days_picks_live_expiring_certificates_of_the_editor(
    fleet, tenant_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        campaign = create(tenant_a, within_days=60)
    assert set(campaign.certificates.values_list("pk", flat=True)) == set(ids(fleet["soon"]))
    assert campaign.total == 6 and campaign.completed == 0
    assert campaign.status == CampaignStatus.PENDING and campaign.within_days == 60
    assert campaign.created_by == tenant_a.operator
    assert len(callbacks) == 1  # the worker is enqueued on commit only
    assert not campaign_requests(campaign).exists()  # nothing heavy in the web request
    event = AuditEvent.objects.get(action="campaign.create")
    assert event.details["certificates"] == 6 and event.editor_id == tenant_a.editor.pk


def test_selection_keeps_only_visible_live_certificates(fleet, tenant_a):
    chosen = [
        *fleet["soon"][:2],
        fleet["far"][0],
        fleet["revoked"],
        fleet["superseded"],
        fleet["inactive"],
        *fleet["foreign"],
    ]
    campaign = create(tenant_a, certificate_ids=[*ids(chosen), 999_999])
    expected = {*ids(fleet["soon"][:2]), fleet["far"][0].pk}
    assert set(campaign.certificates.values_list("pk", flat=True)) == expected
    assert campaign.total == 3
    assert AuditEvent.objects.get(action="campaign.create").details["ignored_ids"] == 6


def test_selection_and_within_days_combine(fleet, tenant_a):
    chosen = [fleet["soon"][0], fleet["soon"][3], fleet["far"][0]]
    campaign = create(tenant_a, certificate_ids=ids(chosen), within_days=30)
    assert list(campaign.certificates.values_list("pk", flat=True)) == [fleet["soon"][0].pk]


def test_foreign_ids_only_is_an_error_and_creates_nothing(fleet, tenant_a):
    with translation.override("en"), pytest.raises(ValidationError, match="No certificate"):
        create(tenant_a, certificate_ids=ids(fleet["foreign"]))
    assert not RenewalCampaign.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "certificate_ids"),
        ({"within_days": 0}, "within_days"),
        ({"within_days": 5000}, "within_days"),
        ({"within_days": "30"}, "within_days"),
        ({"within_days": 30, "requester_email": ""}, "requester_email"),
        ({"within_days": 30, "requester_email": "pas-un-mail"}, "requester_email"),
        ({"within_days": 30, "contact_email": "x@"}, "contact_email"),
        ({"within_days": 30, "name": "  "}, "name"),
        ({"certificate_ids": ["abc"]}, "certificate_ids"),
    ],
)
def test_invalid_input_is_refused_before_any_write(fleet, tenant_a, kwargs, field):
    with pytest.raises(ValidationError) as caught:
        create(tenant_a, **kwargs)
    assert field in caught.value.message_dict
    assert not RenewalCampaign.objects.exists()


def test_only_writers_of_the_editor_create_campaigns(fleet, tenant_a, tenant_b):
    for user, editor in (
        (tenant_a.viewer, tenant_a.editor),
        (tenant_a.pharmacist, tenant_a.editor),
        (tenant_b.admin, tenant_a.editor),
    ):
        with pytest.raises(PermissionDenied):
            campaign_create(
                editor=editor, actor=user, name="x", requester_email="a@lgo.example", within_days=60
            )
    assert not RenewalCampaign.objects.exists()


def test_api_key_like_actor_is_scoped_by_editor(fleet, tenant_a):
    """Non-user actors (API keys, commands) see exactly their editor's certificates."""
    campaign = campaign_create(
        editor=tenant_a.editor,
        actor=None,
        name="cli",
        requester_email="a@lgo.example",
        certificate_ids=ids(fleet["soon"] + fleet["foreign"]),
    )
    assert set(campaign.certificates.values_list("pk", flat=True)) == set(ids(fleet["soon"]))


def test_api_keys_are_scoped_to_their_editor_and_officine(fleet, tenant_a, tenant_b):
    from portal.models import ApiKey

    with pytest.raises(PermissionDenied):
        campaign_create(
            editor=tenant_a.editor,
            actor=ApiKey(editor=tenant_b.editor, name="B"),
            name="x",
            requester_email="a@lgo.example",
            within_days=60,
        )
    limited = ApiKey(
        editor=tenant_a.editor, name="A", officine=tenant_a.officine, scopes=["read", "write"]
    )
    campaign = campaign_create(
        editor=tenant_a.editor,
        actor=limited,
        name="x",
        requester_email="a@lgo.example",
        within_days=60,
    )
    assert set(campaign.certificates.values_list("officine_id", flat=True)) == {
        tenant_a.officine.pk
    }
    assert campaign.total == 2


def test_open_renewals_are_linked_not_duplicated(fleet, tenant_a, fast_keys):
    first, second, third = fleet["soon"][:3]
    by_hand = requests.request_create_renewal(
        certificate=first, actor=tenant_a.operator, key_mode="server", enqueue=False
    )
    other = create(tenant_a, name="Autre", certificate_ids=[second.pk])
    campaign_run(campaign_id=other.pk)
    campaign = create(tenant_a, certificate_ids=ids([first, second, third]))
    by_hand.refresh_from_db()
    assert by_hand.campaign_id == campaign.pk  # adopted
    # `second` is prepared by the other campaign: not in this one.
    assert set(campaign.certificates.values_list("pk", flat=True)) == {first.pk, third.pk}
    campaign = campaign_run(campaign_id=campaign.pk)
    assert campaign.status == CampaignStatus.DONE and campaign.completed == 2
    assert CertificateRequest.objects.filter(renews=first).count() == 1
    assert CertificateRequest.objects.filter(renews=second).count() == 1
    assert_each_certificate_renewed_once(campaign)


# --------------------------------------------------------------------------- worker


def test_end_to_end_through_the_task(
    fleet, tenant_a, fast_keys, eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        campaign = create(tenant_a, within_days=60)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE
    assert campaign.completed == campaign.total == 6 and campaign.percent == 100
    assert campaign.finished_at is not None and campaign.error == ""
    assert_each_certificate_renewed_once(campaign)
    for request in campaign_requests(campaign).select_related("renews"):
        assert request.renews.common_name == request.common_name
        assert request.profile == request.renews.profile
        assert request.requester_email == "admin-tech@lgo.example"
        assert request.created_by == tenant_a.operator
        assert request.encrypted_private_key  # kept encrypted for the PKCS#12 export


def test_progress_is_saved_after_each_certificate(fleet, tenant_a, fast_keys, monkeypatch):
    campaign = create(tenant_a, within_days=60)
    seen: list[int] = []
    real = requests.csr_generate

    def observed(*, request_id):
        seen.append(RenewalCampaign.objects.get(pk=campaign.pk).completed)
        assert RenewalCampaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING
        return real(request_id=request_id)

    monkeypatch.setattr(requests, "csr_generate", observed)
    campaign_run(campaign_id=campaign.pk)
    assert seen == [0, 1, 2, 3, 4, 5]
    assert RenewalCampaign.objects.get(pk=campaign.pk).completed == 6


class WorkerCrashError(Exception):
    """Stands for a worker killed mid-campaign."""


@pytest.mark.parametrize("crash_after", [0, 1, 4])
def test_crash_then_resume_finishes_without_duplicates(
    fleet, tenant_a, fast_keys, monkeypatch, crash_after
):
    campaign = create(tenant_a, within_days=60)
    real = requests.csr_generate
    calls = {"n": 0}

    def crashing(*, request_id):
        if calls["n"] == crash_after:
            raise WorkerCrashError
        calls["n"] += 1
        return real(request_id=request_id)

    monkeypatch.setattr(requests, "csr_generate", crashing)
    with pytest.raises(WorkerCrashError):
        campaign_run(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.FAILED and campaign.completed == crash_after
    # The crashed certificate already had its request: the resume must reuse it.
    assert campaign_requests(campaign).count() == crash_after + 1
    keys_before = dict(
        campaign_requests(campaign).exclude(csr_pem="").values_list("pk", "public_key_sha256")
    )

    monkeypatch.setattr(requests, "csr_generate", real)
    campaign = campaign_run(campaign_id=campaign.pk)
    assert campaign.status == CampaignStatus.DONE and campaign.completed == 6
    assert_each_certificate_renewed_once(campaign)
    keys_after = dict(campaign_requests(campaign).values_list("pk", "public_key_sha256"))
    assert {pk: keys_after[pk] for pk in keys_before} == keys_before  # CSRs made before kept


def test_resume_after_half_the_requests_were_created_by_hand(fleet, tenant_a, fast_keys):
    """A crash between request creation and key generation: some requests exist without
    CSR, some with; the resume completes them and creates only the missing ones."""
    campaign = create(tenant_a, within_days=60)
    soon = sorted(fleet["soon"], key=lambda c: c.pk)
    made = [
        requests.request_create_renewal(
            certificate=c,
            actor=tenant_a.operator,
            key_mode="server",
            requester_email=campaign.requester_email,
            campaign=campaign,
            enqueue=False,
        )
        for c in soon[:3]
    ]
    requests.csr_generate(request_id=made[0].pk)
    made[0].refresh_from_db()
    pre_key = made[0].public_key_sha256
    RenewalCampaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)

    campaign = campaign_run(campaign_id=campaign.pk)
    assert campaign.status == CampaignStatus.DONE and campaign.completed == 6
    assert_each_certificate_renewed_once(campaign)
    assert set(campaign_requests(campaign).values_list("pk", flat=True)) >= {r.pk for r in made}
    made[0].refresh_from_db()
    assert made[0].public_key_sha256 == pre_key


def test_running_twice_is_idempotent(fleet, tenant_a, fast_keys, django_assert_max_num_queries):
    campaign = create(tenant_a, within_days=60)
    campaign_run(campaign_id=campaign.pk)
    snapshot = sorted(campaign_requests(campaign).values_list("pk", "public_key_sha256"))
    RenewalCampaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.FAILED)
    # Nothing left to do: a constant number of queries, no per-certificate work.
    with django_assert_max_num_queries(11):
        campaign = campaign_run(campaign_id=campaign.pk)
    assert campaign.status == CampaignStatus.DONE
    assert sorted(campaign_requests(campaign).values_list("pk", "public_key_sha256")) == snapshot
    assert campaign_run(campaign_id=campaign.pk).status == CampaignStatus.DONE  # done: no-op


def test_time_budget_splits_the_work_into_several_runs(fleet, tenant_a, fast_keys):
    campaign = create(tenant_a, within_days=60)
    runs = 0
    while True:
        runs += 1
        campaign = campaign_run(campaign_id=campaign.pk, time_budget=0)
        if campaign.status != CampaignStatus.RUNNING:
            break
        assert campaign.completed == runs  # one certificate per run with no budget
    assert runs == 6 and campaign.status == CampaignStatus.DONE
    assert_each_certificate_renewed_once(campaign)


def test_task_re_enqueues_itself_until_done(
    fleet, tenant_a, fast_keys, eager, monkeypatch, django_capture_on_commit_callbacks
):
    from certificates import tasks

    monkeypatch.setattr(tasks, "CAMPAIGN_TIME_BUDGET", 0)
    campaign = create(tenant_a, within_days=60)
    # Each slice re-enqueues the next through the outbox, published on commit.
    with django_capture_on_commit_callbacks(execute=True):
        tasks.run_campaign.delay(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE and campaign.completed == 6
    tasks.run_campaign.delay(987_654)  # a deleted campaign is not an error


def test_certificates_revoked_or_cancelled_meanwhile_are_skipped(fleet, tenant_a, fast_keys):
    campaign = create(tenant_a, within_days=60)
    soon = sorted(fleet["soon"], key=lambda c: c.pk)
    soon[0].revoked_at = timezone.now()
    soon[0].save()
    cancelled = requests.request_create_renewal(
        certificate=soon[1],
        actor=tenant_a.operator,
        key_mode="server",
        campaign=campaign,
        enqueue=False,
    )
    requests.request_cancel(request=cancelled, actor=tenant_a.operator)
    with translation.override("en"):
        campaign = campaign_run(campaign_id=campaign.pk)
    assert campaign.status == CampaignStatus.DONE
    assert campaign.completed == 4 and campaign.total == 6
    assert "2 certificates could not be prepared" in campaign.error
    assert not CertificateRequest.objects.filter(renews=soon[0]).exists()
    assert list(
        CertificateRequest.objects.filter(renews=soon[1]).values_list("status", flat=True)
    ) == [RequestStatus.CANCELLED]


def test_resume_service(fleet, tenant_a, django_capture_on_commit_callbacks):
    campaign = create(tenant_a, within_days=60)
    # Just created, its run may still be queued: resuming would only double it.
    with pytest.raises(ValidationError) as live:
        campaigns.campaign_resume(campaign=campaign, actor=tenant_a.admin)
    assert live.value.code == "running"
    RenewalCampaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.FAILED)
    campaign.refresh_from_db()
    with pytest.raises(PermissionDenied):
        campaigns.campaign_resume(campaign=campaign, actor=tenant_a.viewer)
    with django_capture_on_commit_callbacks() as callbacks:
        campaigns.campaign_resume(campaign=campaign, actor=tenant_a.admin)
    assert len(callbacks) == 1
    RenewalCampaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.DONE)
    campaign.refresh_from_db()
    with pytest.raises(ValidationError):
        campaigns.campaign_resume(campaign=campaign, actor=tenant_a.admin)


# --------------------------------------------------------------------------- ZIP for ANS


def read_zip(campaign) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(campaign_zip(campaign))))


@requires_openssl
def test_zip_holds_each_csr_and_the_ans_worksheet(
    fleet, tenant_a, tmp_path, django_assert_max_num_queries
):
    """RSA 2048 keys here, as in production; every CSR checked by openssl."""
    campaign = create(tenant_a, within_days=60, contact_email="pharmacien@officine.example")
    campaign = campaign_run(campaign_id=campaign.pk)
    with django_assert_max_num_queries(1):
        archive = read_zip(campaign)
    names = archive.namelist()
    soon = fleet["soon"]
    expected_csrs = sorted(
        f"{c.officine.finess}_{c.profile}_{c.common_name.replace(' ', '-')}.csr" for c in soon
    )
    assert sorted(n for n in names if n.endswith(".csr")) == expected_csrs
    assert names[-1] == "fiche-ans.csv" and len(names) == 7
    assert f"{soon[0].officine.finess}_ORG_AUTH_CLI_INSI-AUTO.csr" in names

    for name in expected_csrs:
        data = archive.read(name)
        assert b"PRIVATE KEY" not in data
        csr = cx509.load_pem_x509_csr(data)
        assert isinstance(csr.public_key(), rsa.RSAPublicKey) and csr.public_key().key_size == 2048
        path = tmp_path / name
        path.write_bytes(data)
        result = subprocess.run(
            [OPENSSL, "req", "-in", path, "-noout", "-verify", "-subject"],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        assert "verify OK" in result.stdout + result.stderr
        finess = name.split("_", 1)[0]
        assert f"OU = 1{finess}" in result.stdout

    raw = archive.read("fiche-ans.csv")
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == campaigns.worksheet_header()
    assert len(rows) == 7
    by_file = {row[7]: row for row in rows[1:]}
    assert set(by_file) == set(expected_csrs)
    for certificate in soon:
        name = f"{certificate.officine.finess}_{certificate.profile}_{certificate.common_name.replace(' ', '-')}.csr"
        row = by_file[name]
        assert row[0] == certificate.officine.finess
        assert row[1] == certificate.officine.raison_sociale
        assert row[2] == "ORG"
        assert row[3] == certificate.get_profile_display()
        assert row[4] == certificate.common_name
        assert row[5] == "admin-tech@lgo.example"
        assert row[6] == "pharmacien@officine.example"
        assert row[8] == certificate.serial
        assert row[9] == timezone.localdate(certificate.usable_until).isoformat()


def test_zip_names_are_unique_and_cells_are_safe(tenant_a, make_certificate, fast_keys):
    officine = OfficineFactory(editor=tenant_a.editor, raison_sociale="=HYPERLINK(1) PHARMACIE")
    twins = [
        make_certificate(officine, common_name="LGO", not_after=timezone.now() + timedelta(days=9))
        for _ in range(2)
    ]
    campaign = create(tenant_a, certificate_ids=ids(twins))
    campaign_run(campaign_id=campaign.pk)
    archive = read_zip(campaign)
    base = f"{officine.finess}_ORG_AUTH_CLI_LGO"
    assert sorted(archive.namelist()) == sorted([f"{base}.csr", f"{base}_2.csr", "fiche-ans.csv"])
    rows = campaigns.campaign_worksheet_rows(campaign)
    assert [r[7] for r in rows[1:]] == [f"{base}.csr", f"{base}_2.csr"]
    assert all(r[1] == "'=HYPERLINK(1) PHARMACIE" for r in rows[1:])
    assert isinstance(
        cx509.load_pem_x509_csr(archive.read(f"{base}.csr")).public_key(), ec.EllipticCurvePublicKey
    )


def test_zip_never_holds_another_editors_request(fleet, tenant_a, tenant_b, fast_keys):
    campaign = create(tenant_a, within_days=60)
    campaign_run(campaign_id=campaign.pk)
    # A campaign of B is unaffected by A's ids.
    other = create(tenant_b, certificate_ids=ids(fleet["soon"] + fleet["foreign"]))
    assert set(other.certificates.values_list("pk", flat=True)) == set(ids(fleet["foreign"]))
    # Even a corrupted link (B's request pointing at A's campaign) does not leak.
    intruder = requests.request_create_renewal(
        certificate=fleet["foreign"][0],
        actor=tenant_b.operator,
        key_mode="server",
        campaign=other,
        enqueue=False,
    )
    requests.csr_generate(request_id=intruder.pk)
    CertificateRequest.objects.filter(pk=intruder.pk).update(campaign=campaign)
    names = read_zip(campaign).namelist()
    assert len(names) == 7
    assert not any(n.startswith(tenant_b.officine.finess) for n in names)
    rows = campaigns.campaign_worksheet_rows(campaign)
    assert tenant_b.officine.finess not in {r[0] for r in rows}


def test_zip_of_an_unfinished_campaign_holds_what_is_ready(fleet, tenant_a, fast_keys):
    campaign = create(tenant_a, within_days=60)
    assert read_zip(campaign).namelist() == ["fiche-ans.csv"]
    assert campaigns.campaign_worksheet_rows(campaign)[1:] == []


def test_zip_download_is_audited(fleet, tenant_a, fast_keys):
    campaign = create(tenant_a, within_days=30)
    campaign = campaign_run(campaign_id=campaign.pk)
    data = b"".join(campaigns.campaign_export(campaign=campaign, actor=tenant_a.viewer))
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    event = AuditEvent.objects.get(action="campaign.download")
    assert event.actor == tenant_a.viewer and event.target_id == str(campaign.pk)
    assert (
        campaigns.campaign_zip_filename(campaign) == f"campagne-{campaign.pk}-Renouvellement-T3.zip"
    )
