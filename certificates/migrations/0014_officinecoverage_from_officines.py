# The stored coverage moved here from the officines app. State only: the table
# (officines_officinecoverage), its rows, indexes and constraints stay as they are; the
# content type follows the model so permissions and admin history keep pointing at it.

import django.db.models.deletion
from django.db import migrations, models


def move_content_type(apps, schema_editor, source="officines", target="certificates"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if ContentType.objects.filter(app_label=target, model="officinecoverage").exists():
        return
    ContentType.objects.filter(app_label=source, model="officinecoverage").update(
        app_label=target
    )


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, source="certificates", target="officines")


class Migration(migrations.Migration):

    dependencies = [
        ("certificates", "0013_usable_until_indexes"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("officines", "0012_officinecoverage_to_certificates"),
        ("portal", "0009_editor_coverage_services"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OfficineCoverage",
                    fields=[
                        (
                            "officine",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                primary_key=True,
                                related_name="coverage",
                                serialize=False,
                                to="officines.officine",
                            ),
                        ),
                        ("dmp_sign_until", models.DateTimeField(null=True)),
                        ("dmp_auth_until", models.DateTimeField(null=True)),
                        ("insi_until", models.DateTimeField(null=True)),
                        ("psc_until", models.DateTimeField(null=True)),
                        ("mssante_until", models.DateTimeField(null=True)),
                        ("ror_until", models.DateTimeField(null=True)),
                        ("roc_until", models.DateTimeField(null=True)),
                        (
                            "editor",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="portal.editor",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "officine coverage",
                        "verbose_name_plural": "officine coverage",
                        "db_table": "officines_officinecoverage",
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
