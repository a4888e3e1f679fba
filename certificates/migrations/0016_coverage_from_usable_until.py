"""Stored coverage recomputed from `usable_until` for every officine.

0012 gave existing certificates their `usable_until` (an ORG SIGN: a month before its
notAfter) and the coverage rules have read it since, but the stored coverage kept the
notAfter dates officines 0004 and 0010 had filled it with: until the nightly
`coverage_repair`, officines with a signing certificate showed a month of coverage too many.
"""

from django.db import migrations
from django.db.models import Max, Q

# The coverage rules as they stand at this migration (certificates.coverage.RULES), frozen:
# a migration must not import the apps' code, which moves on.
_REQUIREMENTS = (
    ("dmp_sign_until", ("ORG_SIGN",), "DMP", None),
    ("dmp_auth_until", ("ORG_AUTH_CLI",), "DMP", None),
    ("insi_until", ("ORG_AUTH_CLI",), "INSI", ("INSI-AUTO", "INSI-MANU")),
    ("psc_until", ("ORG_AUTH_CLI",), "PSC", None),
    ("mssante_until", ("ORG_AUTH_CLI", "SERV_SSL"), "MSSANTE", None),
    ("ror_until", ("ORG_AUTH_CLI",), "ROR", None),
    ("roc_until", ("ORG_AUTH_CLI",), "ROC", None),
)
BATCH = 2000


def _meets(profiles, service, common_names) -> Q:
    condition = Q(profile__in=profiles, services__contains=f",{service},")
    if common_names is not None:
        condition &= Q(common_name__in=common_names)
    return condition


def refresh_coverage(apps, schema_editor):
    """Every officine's stored coverage, rebuilt from its live certificates' usable_until."""
    Certificate = apps.get_model("certificates", "Certificate")
    OfficineCoverage = apps.get_model("certificates", "OfficineCoverage")
    rows = (
        Certificate.objects.filter(revoked_at__isnull=True, superseded_at__isnull=True)
        .order_by()
        .values("officine_id", "editor_id")
        .annotate(
            **{field: Max("usable_until", filter=_meets(*rule)) for field, *rule in _REQUIREMENTS}
        )
    )
    OfficineCoverage.objects.all().delete()
    OfficineCoverage.objects.bulk_create(
        (OfficineCoverage(**row) for row in rows.iterator(chunk_size=BATCH)), batch_size=BATCH
    )


class Migration(migrations.Migration):
    dependencies = [("certificates", "0015_environment_choices")]

    operations = [migrations.RunPython(refresh_coverage, migrations.RunPython.noop)]
