# User.language is now the language chosen with the switch; empty follows the browser.

from django.db import migrations, models


def default_to_browser(apps, schema_editor):
    """"fr" was everyone's default, not a choice: it now means "the browser's language".
    E-mails fall back to French (LANGUAGE_CODE) for an empty value, so they do not change."""
    apps.get_model("portal", "User").objects.filter(language="fr").update(language="")


def back_to_french(apps, schema_editor):
    apps.get_model("portal", "User").objects.filter(language="").update(language="fr")


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0006_psc_settings_and_invitation_rpps"),
    ]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="language",
            field=models.CharField(
                blank=True,
                choices=[("fr", "French"), ("en", "English")],
                default="",
                max_length=8,
                verbose_name="language",
            ),
        ),
        migrations.RunPython(default_to_browser, back_to_french),
    ]
