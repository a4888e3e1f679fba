"""`usable_until` = min(notAfter, Private Key Usage Period end), filled from each stored PEM."""

from cryptography import x509 as cx509
from django.db import migrations, models

from certificates import x509

BATCH = 1000


def fill_usable_until(apps, schema_editor):
    Certificate = apps.get_model("certificates", "Certificate")
    rows = Certificate.objects.filter(usable_until__isnull=True).only("pk", "pem", "not_after")
    batch = []
    for certificate in rows.iterator(chunk_size=BATCH):
        end = None
        try:
            end = x509.key_usage_end(cx509.load_pem_x509_certificate(certificate.pem.encode()))
        except (ValueError, UnicodeEncodeError):
            pass  # unreadable stored PEM: the certificate ends at notAfter
        certificate.usable_until = x509.usable_until(certificate.not_after, end)
        batch.append(certificate)
        if len(batch) >= BATCH:
            Certificate.objects.bulk_update(batch, ["usable_until"])
            batch = []
    if batch:
        Certificate.objects.bulk_update(batch, ["usable_until"])


class Migration(migrations.Migration):
    dependencies = [("certificates", "0011_certificate_ans_action")]

    operations = [
        migrations.AddField(
            model_name="certificate",
            name="usable_until",
            field=models.DateTimeField(null=True, verbose_name="usable until"),
        ),
        migrations.RunPython(fill_usable_until, migrations.RunPython.noop),
    ]
