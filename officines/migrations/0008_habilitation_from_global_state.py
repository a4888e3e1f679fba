"""Carry the administrator-wide habilitation forward, officine by officine.

Until now an administrator had one global state (requested / habilitated / revoked, with
dates); ANS habilitates per structure. Each officine with a technical administrator gets one
row for that administrator, in the state and with the dates the administrator had: the
portal's best knowledge of what ANS did for that officine. Officines without administrator
get no row (they show « ne pas commander : administrateur non habilité »).
"""

from django.db import migrations

BATCH = 2000


def forward(apps, schema_editor):
    Officine = apps.get_model("officines", "Officine")
    OfficineHabilitation = apps.get_model("officines", "OfficineHabilitation")
    rows = (
        Officine.objects.filter(technical_administrator__isnull=False)
        .order_by("pk")
        .values_list(
            "pk",
            "editor_id",
            "technical_administrator_id",
            "technical_administrator__habilitation",
            "technical_administrator__requested_at",
            "technical_administrator__habilitated_at",
            "technical_administrator__revoked_at",
        )
    )
    batch = []
    for officine_id, editor_id, admin_id, state, requested, habilitated, revoked in rows.iterator(
        chunk_size=BATCH
    ):
        batch.append(
            OfficineHabilitation(
                officine_id=officine_id,
                editor_id=editor_id,
                administrator_id=admin_id,
                state=state or "requested",
                requested_on=requested,
                habilitated_on=habilitated,
                revoked_on=revoked,
            )
        )
        if len(batch) >= BATCH:
            OfficineHabilitation.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    if batch:
        OfficineHabilitation.objects.bulk_create(batch, ignore_conflicts=True)


def backward(apps, schema_editor):
    """Give each administrator back one global state: the best of its officine rows."""
    TechnicalAdministrator = apps.get_model("officines", "TechnicalAdministrator")
    OfficineHabilitation = apps.get_model("officines", "OfficineHabilitation")
    rank = {"habilitated": 3, "requested": 2, "order_to_send": 1, "revoked": 0}
    best: dict[int, object] = {}
    for row in OfficineHabilitation.objects.order_by("pk").iterator(chunk_size=BATCH):
        current = best.get(row.administrator_id)
        if current is None or rank[row.state] > rank[current.state]:
            best[row.administrator_id] = row
    for admin_id, row in best.items():
        state = "requested" if row.state == "order_to_send" else row.state
        TechnicalAdministrator.objects.filter(pk=admin_id).update(
            habilitation=state,
            requested_at=row.requested_on,
            habilitated_at=row.habilitated_on,
            revoked_at=row.revoked_on,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("officines", "0007_habilitation_per_officine"),
    ]

    operations = [migrations.RunPython(forward, backward)]
