"""Coverage per service: rules, bulk matrix, SQL filter and dashboard counts agree."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from certificates.coverage import (
    CoverageState,
    coverage_drift,
    coverage_for_officine,
    coverage_for_officines,
    coverage_of_row,
    coverage_rebuild,
    coverage_summary,
    officines_with_coverage_state,
)
from certificates.coverage_store import OfficineCoverage
from certificates.models import COVERAGE_SERVICES, TRACKABLE_SERVICES
from officines.models import Officine
from tests.factories import OfficineFactory

COVERED, EXPIRING, EXPIRED, MISSING = (
    CoverageState.COVERED,
    CoverageState.EXPIRING,
    CoverageState.EXPIRED,
    CoverageState.MISSING,
)
VALID_DAYS, EXPIRING_DAYS, EXPIRED_DAYS = 700, 10, -5


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def cert(make_certificate, now):
    """make_certificate with the expiry given in days from `now`."""

    def make(
        officine, *, days=VALID_DAYS, profile="ORG_AUTH_CLI", cn="LGO", services=("PSC",), **kw
    ):
        return make_certificate(
            officine,
            profile=profile,
            common_name=cn,
            services=services,
            not_after=now + timedelta(days=days),
            **kw,
        )

    return make


def matrix(officine, now):
    return coverage_for_officine(officine, now=now)


def test_officine_without_certificates_misses_everything(tenant_a, now):
    services = ("DMP", "INSI", "PSC", "MSSANTE", "ROR", "ROC")  # ROR, ROC: followed on demand
    assert matrix(tenant_a.officine, now) == dict.fromkeys(services, MISSING)
    assert list(matrix(tenant_a.officine, now)) == [str(s) for s in TRACKABLE_SERVICES]


def test_dmp_needs_both_sign_and_auth_cli(tenant_a, cert, now):
    officine = tenant_a.officine
    cert(officine, services=("DMP",))
    assert matrix(officine, now)["DMP"] == MISSING  # AUTH_CLI alone
    sign = cert(officine, profile="ORG_SIGN", cn="SIGN", services=("DMP",), days=EXPIRING_DAYS)
    assert matrix(officine, now)["DMP"] == EXPIRING  # the worse of the two
    sign.not_after = sign.usable_until = now + timedelta(days=EXPIRED_DAYS)
    sign.save()
    assert matrix(officine, now)["DMP"] == EXPIRED
    cert(officine, profile="ORG_SIGN", cn="SIGN 2", services=("DMP",))
    assert matrix(officine, now)["DMP"] == COVERED  # best candidate wins
    # A SIGN certificate not declared for DMP does not count.
    other = OfficineFactory(editor=tenant_a.editor)
    cert(other, services=("DMP",))
    cert(other, profile="ORG_SIGN", cn="SIGN", services=("PSC",))
    assert matrix(other, now)["DMP"] == MISSING


@pytest.mark.parametrize(
    ("cn", "services", "state"),
    [
        ("INSI-AUTO", ("INSI",), COVERED),
        ("INSI-MANU", ("INSI",), COVERED),
        ("insi-auto", ("INSI",), MISSING),  # the service refuses any other CN
        ("LGO", ("INSI",), MISSING),
        ("INSI-AUTO", ("PSC",), MISSING),  # not declared for INSi
    ],
)
def test_insi_needs_an_insi_cn(tenant_a, cert, now, cn, services, state):
    cert(tenant_a.officine, cn=cn, services=services)
    assert matrix(tenant_a.officine, now)["INSI"] == state


def test_insi_on_another_profile_does_not_count(tenant_a, cert, now):
    cert(tenant_a.officine, profile="ORG_SIGN", cn="INSI-AUTO", services=("INSI",))
    assert matrix(tenant_a.officine, now)["INSI"] == MISSING


def test_psc_and_mssante(tenant_a, cert, now):
    officine = tenant_a.officine
    cert(officine, services=("PSC",), days=EXPIRING_DAYS)
    cert(officine, profile="ORG_CONF", cn="CONF", services=("MSSANTE",))
    result = matrix(officine, now)
    assert result["PSC"] == EXPIRING
    assert result["MSSANTE"] == MISSING  # ORG CONF does not serve MSSanté
    cert(officine, profile="SERV_SSL", cn="mss.lgo.example", services=("MSSANTE",))
    assert matrix(officine, now)["MSSANTE"] == COVERED  # SERV SSL counts for operators


def test_revoked_and_superseded_certificates_cover_nothing(tenant_a, cert, now):
    officine = tenant_a.officine
    revoked = cert(officine, services=("PSC", "MSSANTE"))
    revoked.revoked_at, revoked.revocation_reason = now, "key_compromise"
    revoked.save()
    superseded = cert(officine, cn="OLD", services=("PSC",))
    superseded.superseded_at = now
    superseded.save()
    cert(officine, cn="EXPIRED", services=("PSC",), days=EXPIRED_DAYS)
    result = matrix(officine, now)
    assert result["PSC"] == EXPIRED  # only the expired live one is left
    assert result["MSSANTE"] == MISSING


def test_expiring_boundary_is_thirty_days(tenant_a, cert, now):
    a, b = tenant_a.officine, OfficineFactory(editor=tenant_a.editor)
    cert(a, days=30)
    cert(b, days=31)
    result = coverage_for_officines([a.pk, b.pk], now=now)
    assert result[a.pk]["PSC"] == EXPIRING
    assert result[b.pk]["PSC"] == COVERED


@pytest.fixture
def landscape(tenant_a, tenant_b, cert):
    """Officines covering every state of every service, plus noise in tenant B."""
    editor = tenant_a.editor
    officines = [tenant_a.officine, tenant_a.pharmacist_officine]
    officines += [OfficineFactory(editor=editor) for _ in range(10)]
    o = officines
    cert(o[0], services=("DMP", "PSC"))
    cert(o[0], profile="ORG_SIGN", cn="SIGN", services=("DMP",))
    cert(o[0], cn="INSI-AUTO", services=("INSI",))
    cert(o[1], services=("DMP",), days=EXPIRING_DAYS)
    cert(o[1], profile="ORG_SIGN", cn="SIGN", services=("DMP",))
    cert(o[1], cn="INSI-MANU", services=("INSI",), days=EXPIRED_DAYS)
    cert(o[2], services=("DMP", "PSC", "MSSANTE"), days=EXPIRED_DAYS)
    cert(o[2], profile="ORG_SIGN", cn="SIGN", services=("DMP",), days=EXPIRING_DAYS)
    cert(o[3], profile="ORG_SIGN", cn="SIGN", services=("DMP",))
    cert(o[3], cn="INSI-AUTO", services=("INSI",), days=EXPIRING_DAYS)
    cert(o[4], profile="SERV_SSL", cn="mss", services=("MSSANTE",), days=EXPIRING_DAYS)
    cert(o[5], services=("PSC",), days=EXPIRING_DAYS)
    cert(o[5], cn="PSC 2", services=("PSC",), days=EXPIRED_DAYS)
    revoked = cert(o[6], services=("PSC", "MSSANTE"))
    revoked.revoked_at = timezone.now()
    revoked.save()
    # Tenant B: a fully covered officine that must never leak into A's numbers.
    b = tenant_b.officine
    cert(b, services=("DMP", "PSC", "MSSANTE"))
    cert(b, profile="ORG_SIGN", cn="SIGN", services=("DMP",))
    cert(b, cn="INSI-AUTO", services=("INSI",))
    return officines


def test_bulk_matrix_is_one_query(landscape, now, django_assert_num_queries):
    ids = [o.pk for o in landscape]
    with django_assert_num_queries(1):
        result = coverage_for_officines(ids, now=now)
    assert set(result) == set(ids)
    assert result[landscape[0].pk] == {
        "DMP": COVERED,
        "INSI": COVERED,
        "PSC": COVERED,
        "MSSANTE": MISSING,
        "ROR": MISSING,
        "ROC": MISSING,
    }
    assert result[landscape[1].pk]["DMP"] == EXPIRING
    assert result[landscape[1].pk]["INSI"] == EXPIRED
    assert result[landscape[2].pk] == {
        "DMP": EXPIRED,
        "INSI": MISSING,
        "PSC": EXPIRED,
        "MSSANTE": EXPIRED,
        "ROR": MISSING,
        "ROC": MISSING,
    }
    assert result[landscape[5].pk]["PSC"] == EXPIRING
    assert result[landscape[6].pk]["PSC"] == MISSING
    assert coverage_for_officines([], now=now) == {}


def test_queryset_input_is_a_subquery(landscape, tenant_a, now, django_assert_num_queries):
    queryset = Officine.objects.visible_to(tenant_a.admin)
    with django_assert_num_queries(2):
        result = coverage_for_officines(queryset, now=now)
    assert result == coverage_for_officines([o.pk for o in landscape], now=now)


@pytest.mark.parametrize("service", [str(s) for s in COVERAGE_SERVICES])
def test_sql_filter_agrees_with_python_rules(landscape, tenant_a, now, service):
    expected = coverage_for_officines([o.pk for o in landscape], now=now)
    base = Officine.objects.visible_to(tenant_a.admin)
    seen: set[int] = set()
    for state in CoverageState:
        ids = set(
            officines_with_coverage_state(base, service=service, state=state, now=now).values_list(
                "pk", flat=True
            )
        )
        assert ids == {pk for pk, m in expected.items() if m[service] == state}, state
        assert not ids & seen  # each officine is in exactly one state
        seen |= ids
    assert seen == set(expected)


def test_sql_filter_paginates_in_the_database(landscape, tenant_a, now, django_assert_num_queries):
    base = Officine.objects.visible_to(tenant_a.admin).order_by("pk")
    filtered = officines_with_coverage_state(base, service="PSC", state="missing", now=now)
    with django_assert_num_queries(2):
        count = filtered.count()
        page = list(filtered[:3])
    assert count == 9
    assert len(page) == 3


def test_sql_filter_rejects_unknown_service_or_state(tenant_a):
    base = Officine.objects.all()
    with pytest.raises(ValueError):
        officines_with_coverage_state(base, service="OTHER", state="covered")
    with pytest.raises(ValueError):
        officines_with_coverage_state(base, service="PSC", state="fine")


def test_summary_counts_active_officines_of_the_editor_only(
    landscape, tenant_a, now, django_assert_max_num_queries
):
    inactive = OfficineFactory(editor=tenant_a.editor, is_active=False)
    with django_assert_max_num_queries(2):
        summary = coverage_summary(tenant_a.editor.pk, now=now)
    expected = coverage_for_officines([o.pk for o in landscape], now=now)
    for service in ("DMP", "INSI", "PSC", "MSSANTE"):
        assert sum(summary[service].values()) == len(landscape)
        for state in CoverageState:
            assert summary[service][state] == sum(
                1 for m in expected.values() if m[service] == state
            ), (service, state)
    assert summary["PSC"][COVERED] == 1
    assert inactive.pk not in expected


# --------------------------------------------------------------------------- stored expiries


def test_stored_row_follows_import_revocation_and_renewal(tenant_a, cert, now):
    """The stored expiries change in the transaction that changes the certificates."""
    from certificates.lifecycle import certificate_revoke

    officine = tenant_a.officine
    assert not OfficineCoverage.objects.filter(officine=officine).exists()
    first = cert(officine, days=VALID_DAYS, services=("PSC",))
    stored = OfficineCoverage.objects.get(officine=officine)
    assert stored.psc_until == first.not_after and stored.editor_id == tenant_a.editor.pk
    assert stored.dmp_sign_until is None and stored.insi_until is None
    later = cert(officine, days=VALID_DAYS + 30, services=("PSC",))
    assert OfficineCoverage.objects.get(officine=officine).psc_until == later.not_after
    certificate_revoke(certificate=later, actor=tenant_a.admin, reason="other")
    assert OfficineCoverage.objects.get(officine=officine).psc_until == first.not_after
    certificate_revoke(certificate=first, actor=tenant_a.admin, reason="other")
    # No live certificate left: no row, every service missing.
    assert not OfficineCoverage.objects.filter(officine=officine).exists()
    assert set(matrix(officine, now).values()) == {MISSING}


def test_drift_is_detected_and_rebuild_repairs_it(tenant_a, tenant_b, cert, now):
    """What the test-suite guard (tests/conftest.py) and the nightly repair rely on."""
    from certificates.models import Certificate

    kept = cert(tenant_a.officine, days=VALID_DAYS)
    bypassed = cert(tenant_b.officine, days=VALID_DAYS)
    assert coverage_drift() == []
    Certificate.objects.filter(pk=bypassed.pk).update(usable_until=now + timedelta(days=3))
    assert coverage_drift() == [tenant_b.officine.pk]
    assert matrix(tenant_b.officine, now)["PSC"] == COVERED  # stale until repaired
    assert coverage_rebuild(tenant_a.editor.pk) >= 1
    assert coverage_drift() == [tenant_b.officine.pk]  # the other editor's rows untouched
    coverage_rebuild()
    assert coverage_drift() == []
    assert matrix(tenant_b.officine, now)["PSC"] == EXPIRING
    assert OfficineCoverage.objects.get(officine=tenant_a.officine).psc_until == kept.not_after


def test_states_move_with_time_without_any_write(tenant_a, cert, now):
    """Dates are stored, not states: tomorrow's state needs no refresh."""
    cert(tenant_a.officine, days=40, services=("PSC",))
    assert matrix(tenant_a.officine, now)["PSC"] == COVERED
    assert matrix(tenant_a.officine, now + timedelta(days=15))["PSC"] == EXPIRING
    assert matrix(tenant_a.officine, now + timedelta(days=41))["PSC"] == EXPIRED


def test_stored_coverage_is_scoped_by_tenant(tenant_a, tenant_b, cert):
    cert(tenant_a.officine)
    cert(tenant_a.pharmacist_officine)
    cert(tenant_b.officine)
    rows = OfficineCoverage.objects.visible_to(tenant_b.viewer)
    assert list(rows.values_list("officine_id", flat=True)) == [tenant_b.officine.pk]
    pharmacist_rows = OfficineCoverage.objects.visible_to(tenant_a.pharmacist)
    assert list(pharmacist_rows.values_list("officine_id", flat=True)) == [
        tenant_a.pharmacist_officine.pk
    ]


def test_nightly_repair_refreshes_only_what_drifted(tenant_a, cert, now, caplog, settings):
    from certificates.models import Certificate
    from certificates.tasks import repair_coverage

    assert "repair-stored-coverage" in settings.CELERY_BEAT_SCHEDULE
    sound = cert(tenant_a.officine, days=VALID_DAYS)
    drifting = cert(tenant_a.pharmacist_officine, days=VALID_DAYS)
    assert repair_coverage.delay().get() == []
    Certificate.objects.filter(pk=drifting.pk).update(revoked_at=now, revocation_reason="other")
    assert repair_coverage.delay().get() == [tenant_a.pharmacist_officine.pk]
    assert "repaired for 1 officines" in caplog.text
    assert not OfficineCoverage.objects.filter(officine=tenant_a.pharmacist_officine).exists()
    assert OfficineCoverage.objects.get(officine=tenant_a.officine).psc_until == sound.not_after


def test_one_row_in_python_agrees_with_the_sql_states(tenant_a, make_certificate):
    """`coverage_of_row` (one officine, in Python) gives the same states as the SQL of lists,
    filters and dashboards at every boundary (an expiry exactly now, exactly EXPIRING_DAYS
    ahead, a microsecond off)."""
    from certificates.models import EXPIRING_DAYS

    now = timezone.now()
    full = tenant_a.officine
    make_certificate(
        full, profile="ORG_SIGN", services=("DMP",), not_after=now + timedelta(days=10)
    )
    make_certificate(full, services=("DMP", "PSC", "MSSANTE"), not_after=now + timedelta(days=100))
    make_certificate(full, common_name="INSI-AUTO", services=("INSI",), not_after=now)
    partial = OfficineFactory(editor=tenant_a.editor)
    make_certificate(partial, services=("DMP", "PSC"), not_after=now + timedelta(days=40))
    empty = OfficineFactory(editor=tenant_a.editor)
    officines = [full, partial, empty]
    expiries = {
        value
        for row in OfficineCoverage.objects.filter(officine__in=officines).values()
        for key, value in row.items()
        if key.endswith("_until") and value is not None
    }
    assert len(expiries) == 4
    tick, ahead = timedelta(microseconds=1), timedelta(days=EXPIRING_DAYS)
    instants = {e + shift for e in expiries for shift in (-ahead - tick, -ahead, -tick, 0 * tick)}
    instants |= {e + tick for e in expiries}
    seen = set()
    for instant in sorted(instants):
        expected = coverage_for_officines([o.pk for o in officines], now=instant)
        for officine in Officine.objects.filter(pk__in=expected).select_related("coverage"):
            states = coverage_of_row(
                officine.coverage if hasattr(officine, "coverage") else None, now=instant
            )
            assert states == expected[officine.pk], (officine.finess, instant)
            seen |= set(states.values())
    assert seen == {"covered", "expiring", "expired", "missing"}
