"""Habilitation is per officine now (0006 copied it): drop the administrator-wide fields."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("officines", "0008_habilitation_from_global_state"),
    ]

    operations = [
        migrations.RemoveField(
            model_name='technicaladministrator',
            name='habilitated_at',
        ),
        migrations.RemoveField(
            model_name='technicaladministrator',
            name='habilitation',
        ),
        migrations.RemoveField(
            model_name='technicaladministrator',
            name='requested_at',
        ),
        migrations.RemoveField(
            model_name='technicaladministrator',
            name='revoked_at',
        ),
    ]
