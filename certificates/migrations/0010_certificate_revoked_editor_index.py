# Revoked certificates per editor for /metrics (certificates/stats.py): an index-only count.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("certificates", "0009_fingerprint_unique_per_editor"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="certificate",
            index=models.Index(
                condition=models.Q(("revoked_at__isnull", False)),
                fields=["editor"],
                name="cert_revoked_editor",
            ),
        ),
    ]
