# The stored coverage moved to the certificates app (coverage is certificate knowledge).
# State only: the table keeps its name and rows; certificates 0014 takes it over.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("officines", "0011_technicaladministrator_kind"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="OfficineCoverage")],
            database_operations=[],
        ),
    ]
