"""App config of certificates: coverage kept true on save, its hooks and rotations registered."""

from django.apps import AppConfig
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class CertificatesConfig(AppConfig):
    name = "certificates"
    verbose_name = _("Certificates")

    def ready(self) -> None:
        # Imported here because models are not loaded when this module is.
        from certificates.ans_actions import flag_on_officine_change
        from certificates.keystore import private_keys_rotation
        from certificates.models import Certificate
        from certificates.selectors import open_requests_count
        from officines.selectors import register_open_requests_counter
        from portal.events import officine_changed
        from portal.sealing import register_rotation

        post_save.connect(
            refresh_coverage_on_save, sender=Certificate, dispatch_uid="certificate_coverage"
        )
        officine_changed.connect(flag_on_officine_change, dispatch_uid="certificate_ans_actions")
        register_rotation(private_keys_rotation())
        register_open_requests_counter(open_requests_count)


def refresh_coverage_on_save(sender, instance, update_fields=None, raw=False, **kwargs) -> None:
    """Keep the officine's stored coverage true when one certificate is saved. (Bulk writes —
    `bulk_create`, `QuerySet.update`, COPY — send no signal: they call `coverage_refresh`.
    Certificates are never deleted on their own; an officine's deletion takes its coverage
    row with it.)"""
    from certificates.coverage import COVERAGE_INPUTS, coverage_refresh  # models: see ready()

    if raw or (update_fields is not None and not COVERAGE_INPUTS & set(update_fields)):
        return
    coverage_refresh([instance.officine_id])
