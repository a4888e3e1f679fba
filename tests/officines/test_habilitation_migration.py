"""Migrations 0007-0009 carry the administrator-wide habilitation to every officine."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("officines", "0006_pharmacist_access_psc")]
AFTER = [("officines", "0009_remove_global_habilitation")]


def _migrate(targets):
    """Migrate to `targets` (their dependents are unapplied too) and return the models as
    the database now has them (every app at its applied state)."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor = MigrationExecutor(connection)
    return executor._create_project_state(with_applied_migrations=True).apps


@pytest.mark.django_db(transaction=True)
def test_habilitation_is_derived_per_officine_and_nothing_is_lost():
    try:
        _check_forward_and_back()
    finally:
        _migrate(_latest())  # the next tests need the current schema, whatever happened


def _check_forward_and_back():
    old = _migrate(BEFORE)
    Editor = old.get_model("portal", "Editor")
    Administrator = old.get_model("officines", "TechnicalAdministrator")
    Officine = old.get_model("officines", "Officine")
    editor = Editor.objects.create(name="Migration", siren="900000001")
    habilitated = Administrator.objects.create(
        editor=editor,
        full_name="Claire Habilitée",
        email="claire@lgo.example",
        card_number="8000000001",
        habilitation="habilitated",
        requested_at=date(2024, 1, 15),
        habilitated_at=date(2024, 2, 1),
    )
    requested = Administrator.objects.create(
        editor=editor,
        full_name="Sophie Demandée",
        email="sophie@lgo.example",
        card_number="8000000002",
        habilitation="requested",
        requested_at=date(2024, 3, 1),
    )
    revoked = Administrator.objects.create(
        editor=editor,
        full_name="Paul Révoqué",
        email="paul@lgo.example",
        card_number="8000000003",
        habilitation="revoked",
        habilitated_at=date(2023, 1, 1),
        revoked_at=date(2024, 6, 1),
    )
    officines = {}
    for n, admin in enumerate([habilitated, habilitated, requested, revoked, None]):
        officines[n] = Officine.objects.create(
            editor=editor,
            finess=f"69000{n:03d}0",
            raison_sociale=f"PHARMACIE {n}",
            department="69",
            technical_administrator=admin,
            notification_email=f"o{n}@example.fr",
        )
    before = list(Officine.objects.order_by("pk").values())

    new = _migrate(AFTER)
    Officine = new.get_model("officines", "Officine")
    Habilitation = new.get_model("officines", "OfficineHabilitation")
    Administrator = new.get_model("officines", "TechnicalAdministrator")
    assert list(Officine.objects.order_by("pk").values()) == before  # nothing lost
    assert Administrator.objects.count() == 3
    rows = {(row.officine_id, row.administrator_id): row for row in Habilitation.objects.all()}
    assert len(rows) == 4  # one per officine that had an administrator
    first = rows[(officines[0].pk, habilitated.pk)]
    assert (first.state, first.requested_on, first.habilitated_on, first.editor_id) == (
        "habilitated",
        date(2024, 1, 15),
        date(2024, 2, 1),
        editor.pk,
    )
    assert rows[(officines[1].pk, habilitated.pk)].state == "habilitated"
    assert rows[(officines[2].pk, requested.pk)].state == "requested"
    assert rows[(officines[2].pk, requested.pk)].requested_on == date(2024, 3, 1)
    gone = rows[(officines[3].pk, revoked.pk)]
    assert (gone.state, gone.revoked_on) == ("revoked", date(2024, 6, 1))
    assert not Habilitation.objects.filter(officine_id=officines[4].pk).exists()

    # And back: the administrator-wide state is rebuilt from the rows.
    old = _migrate(BEFORE)
    Administrator = old.get_model("officines", "TechnicalAdministrator")
    states = dict(Administrator.objects.values_list("full_name", "habilitation"))
    assert states == {
        "Claire Habilitée": "habilitated",
        "Sophie Demandée": "requested",
        "Paul Révoqué": "revoked",
    }


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()
