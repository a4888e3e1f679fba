"""Habilitation per (administrator, officine) and form 503: the services' rules."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from notifications.scan import alert_scan
from officines.administrator_changes import (
    administrator_change_cancel,
    administrator_change_process,
    administrator_change_request,
    worksheet_rows,
)
from officines.habilitations import habilitations_set, main_contact_set, parse_finess_list
from officines.models import (
    AdministratorChange,
    ChangeStatus,
    Habilitation,
    Officine,
    OfficineHabilitation,
)
from officines.selectors import alert_contacts
from officines.services import officine_save
from portal.models import AuditEvent
from tests.factories import OfficineFactory, TechnicalAdministratorFactory

pytestmark = pytest.mark.django_db


def row(officine, administrator):
    return OfficineHabilitation.objects.get(officine=officine, administrator=administrator)


def test_states_are_recorded_per_officine_with_their_dates(tenant_a):
    admin = TechnicalAdministratorFactory(editor=tenant_a.editor)
    first, second = OfficineFactory.create_batch(2, editor=tenant_a.editor)
    habilitations_set(
        officines=[first, second],
        administrator=admin,
        state=Habilitation.ORDER_TO_SEND,
        actor=tenant_a.operator,
    )
    assert row(first, admin).state == "order_to_send"
    habilitations_set(
        officines=[first],
        administrator=admin,
        state=Habilitation.REQUESTED,
        on=date(2026, 3, 1),
        actor=tenant_a.operator,
    )
    result = habilitations_set(
        officines=[first],
        administrator=admin,
        state=Habilitation.HABILITATED,
        on=date(2026, 3, 20),
        actor=tenant_a.operator,
    )
    assert result.updated == 1
    got = row(first, admin)
    assert (got.state, got.requested_on, got.habilitated_on) == (
        "habilitated",
        date(2026, 3, 1),
        date(2026, 3, 20),
    )
    # The other officine did not move: habilitation is per structure.
    assert row(second, admin).state == "order_to_send"
    assert (
        Officine.objects.with_habilitated_administrator()
        .get(pk=first.pk)
        .has_habilitated_administrator
    )
    assert set(
        Officine.objects.filter(pk__in=[first.pk, second.pk])
        .without_habilitated_administrator()
        .values_list("pk", flat=True)
    ) == {second.pk}
    event = AuditEvent.objects.filter(action="habilitation.set").latest("id")
    assert event.details["state"] == "habilitated" and event.details["finess"] == [first.finess]


def test_card_on_order_is_recorded_but_not_habilitable(tenant_a):
    newcomer = TechnicalAdministratorFactory(editor=tenant_a.editor, card_number="")
    other = TechnicalAdministratorFactory(editor=tenant_a.editor, card_number="")
    newcomer.full_clean()  # no card number yet is valid (form 301 sent)
    assert newcomer.card_on_order
    assert other.pk  # two cards on order in the same editor do not collide
    habilitations_set(
        officines=[tenant_a.officine],
        administrator=newcomer,
        state=Habilitation.REQUESTED,
        actor=tenant_a.operator,
    )
    with pytest.raises(ValidationError) as refused:
        habilitations_set(
            officines=[tenant_a.officine],
            administrator=newcomer,
            state=Habilitation.HABILITATED,
            actor=tenant_a.operator,
        )
    assert refused.value.code == "card_on_order"
    assert row(tenant_a.officine, newcomer).state == "requested"
    newcomer.card_number = "8000999999"
    newcomer.save()
    habilitations_set(
        officines=[tenant_a.officine],
        administrator=newcomer,
        state=Habilitation.HABILITATED,
        actor=tenant_a.operator,
    )
    assert row(tenant_a.officine, newcomer).state == "habilitated"


def test_viewer_and_other_editor_cannot_set_habilitations(tenant_a, tenant_b):
    with pytest.raises(PermissionDenied):
        habilitations_set(
            officines=[tenant_a.officine],
            administrator=tenant_a.administrator,
            state=Habilitation.REVOKED,
            actor=tenant_a.viewer,
        )
    with pytest.raises(ValidationError):
        habilitations_set(
            officines=[tenant_b.officine],
            administrator=tenant_a.administrator,
            state=Habilitation.REVOKED,
            actor=tenant_a.operator,
        )
    assert row(tenant_a.officine, tenant_a.administrator).state == "habilitated"


def test_several_administrators_one_main_contact_gets_the_alerts(tenant_a):
    second = TechnicalAdministratorFactory(editor=tenant_a.editor, email="second@lgo.example")
    officine = tenant_a.officine
    habilitations_set(
        officines=[officine], administrator=second, state="habilitated", actor=tenant_a.admin
    )
    assert alert_contacts([officine.pk])[officine.pk].email == tenant_a.administrator.email
    main_contact_set(officine=officine, administrator=second, actor=tenant_a.admin)
    assert alert_contacts([officine.pk])[officine.pk].email == "second@lgo.example"
    # Revoking the main contact hands the alerts to the other habilitated administrator.
    habilitations_set(
        officines=[officine], administrator=second, state="revoked", actor=tenant_a.admin
    )
    officine.refresh_from_db()
    assert officine.technical_administrator_id == tenant_a.administrator.pk
    assert alert_contacts([officine.pk])[officine.pk].email == tenant_a.administrator.email
    stranger = TechnicalAdministratorFactory(editor=tenant_a.editor)
    with pytest.raises(ValidationError):
        main_contact_set(officine=officine, administrator=stranger, actor=tenant_a.admin)


def test_finess_lists_accept_lines_commas_and_a_csv_column():
    numbers, invalid = parse_finess_list(
        "finess;nom\n690 001 003;PHARMACIE\n750001234, 130001234\n\n12345\n690001003\n"
    )
    assert numbers == ["690001003", "750001234", "130001234"]
    assert invalid == ["12345"]


# --------------------------------------------------------------------------- form 503


def test_form_503_is_pending_until_processed_by_ans(tenant_a):
    old = tenant_a.administrator
    new = TechnicalAdministratorFactory(editor=tenant_a.editor, email="nouveau@lgo.example")
    other = OfficineFactory(editor=tenant_a.editor, technical_administrator=old)
    change = administrator_change_request(
        officines=[tenant_a.officine, other], new_administrator=new, actor=tenant_a.operator
    )
    assert change.status == ChangeStatus.PENDING
    assert change.requested_by == tenant_a.operator
    # Pending: the old administrator stays habilitated, main contact, and gets the alerts.
    for officine in (tenant_a.officine, other):
        officine.refresh_from_db()
        assert officine.technical_administrator_id == old.pk
        assert row(officine, old).state == "habilitated"
        assert alert_contacts([officine.pk])[officine.pk].email == old.email
    rows = list(worksheet_rows(change))
    assert len(rows) == 3
    line = next(r for r in rows[1:] if r[0] == tenant_a.officine.finess)
    assert line == [
        tenant_a.officine.finess,
        tenant_a.officine.raison_sociale,
        old.full_name,
        old.card_number,
        new.full_name,
        new.card_number,
        new.email,
    ]
    # A second change for the same officine waits for this one.
    third = TechnicalAdministratorFactory(editor=tenant_a.editor)
    with pytest.raises(ValidationError) as busy:
        administrator_change_request(
            officines=[other], new_administrator=third, actor=tenant_a.operator
        )
    assert busy.value.code == "pending_change"

    administrator_change_process(change=change, processed_on=date(2026, 4, 2), actor=tenant_a.admin)
    change.refresh_from_db()
    assert change.status == ChangeStatus.PROCESSED and change.processed_on == date(2026, 4, 2)
    for officine in (tenant_a.officine, other):
        officine.refresh_from_db()
        assert officine.technical_administrator_id == new.pk
        assert row(officine, new).state == "habilitated"
        assert row(officine, new).habilitated_on == date(2026, 4, 2)
        assert row(officine, old).state == "revoked"
        assert alert_contacts([officine.pk])[officine.pk].email == "nouveau@lgo.example"
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"administrator_change.request", "administrator_change.process"} <= actions
    with pytest.raises(ValidationError):
        administrator_change_cancel(change=change, actor=tenant_a.admin)


def test_form_503_alerts_go_to_the_old_administrator_while_pending(tenant_a, make_certificate):
    from datetime import timedelta

    from django.utils import timezone

    new = TechnicalAdministratorFactory(editor=tenant_a.editor, email="nouveau@lgo.example")
    make_certificate(tenant_a.officine, not_after=timezone.now() + timedelta(days=7, hours=12))
    administrator_change_request(
        officines=[tenant_a.officine], new_administrator=new, actor=tenant_a.operator
    )
    report = alert_scan(today=timezone.localdate(), enqueue=False, dry_run=True)
    recipients = {a.recipient for a in report.to_send}
    assert tenant_a.administrator.email in recipients
    assert "nouveau@lgo.example" not in recipients


def test_form_503_can_be_cancelled_and_needs_a_card_number(tenant_a):
    new = TechnicalAdministratorFactory(editor=tenant_a.editor)
    change = administrator_change_request(
        officines=[tenant_a.officine], new_administrator=new, actor=tenant_a.operator
    )
    administrator_change_cancel(change=change, actor=tenant_a.operator)
    change.refresh_from_db()
    assert change.status == ChangeStatus.CANCELLED
    tenant_a.officine.refresh_from_db()
    assert tenant_a.officine.technical_administrator_id == tenant_a.administrator.pk
    assert not OfficineHabilitation.objects.filter(administrator=new).exists()
    assert AuditEvent.objects.filter(action="administrator_change.cancel").exists()
    # The officine is free again; an administrator without card cannot be named in a 503.
    on_order = TechnicalAdministratorFactory(editor=tenant_a.editor, card_number="")
    with pytest.raises(ValidationError) as refused:
        administrator_change_request(
            officines=[tenant_a.officine], new_administrator=on_order, actor=tenant_a.operator
        )
    assert refused.value.code == "card_on_order"
    administrator_change_request(
        officines=[tenant_a.officine], new_administrator=new, actor=tenant_a.operator
    )
    assert AdministratorChange.objects.filter(status="pending").count() == 1


def test_choosing_another_administrator_in_the_officine_form_records_a_503(tenant_a):
    new = TechnicalAdministratorFactory(editor=tenant_a.editor)
    officine = Officine.objects.get(pk=tenant_a.officine.pk)
    officine.technical_administrator = new
    saved = officine_save(officine=officine, actor=tenant_a.operator)
    assert saved.pending_change is not None
    officine.refresh_from_db()
    assert officine.technical_administrator_id == tenant_a.administrator.pk
    # A first administrator is set at once, « bon de commande à envoyer ».
    bare = OfficineFactory(editor=tenant_a.editor)
    bare.technical_administrator = new
    assert officine_save(officine=bare, actor=tenant_a.operator).pending_change is None
    bare.refresh_from_db()
    assert bare.technical_administrator_id == new.pk
    assert row(bare, new).state == "order_to_send"
