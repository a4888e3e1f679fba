"""FINESS checks: the active officines whose details differ from the FINESS referential."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from officines.models.officine import Officine
from portal.tenancy import TenantQuerySet


class FinessCheckStatus(models.TextChoices):
    CLOSED = "closed", _("Closed in FINESS")
    MISSING = "missing", _("Absent from FINESS")
    CHANGED = "changed", _("Differs from FINESS")


class OfficineFinessCheck(models.Model):
    """Derived data: an active officine whose details differ from the FINESS referential
    (« à vérifier (FINESS) »). No row: it matches, or no referential is loaded.

    Rewritten for every editor after each referential refresh (`officines.finess_check`).
    """

    tenant_editor_path = "editor"
    tenant_officine_path = "officine"

    officine = models.OneToOneField(
        Officine, primary_key=True, on_delete=models.CASCADE, related_name="finess_check"
    )
    editor = models.ForeignKey("portal.Editor", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("FINESS check"), max_length=8, choices=FinessCheckStatus.choices)
    # [{"field": "raison_sociale", "officine": "...", "referential": "..."}]
    differences = models.JSONField(_("differences"), default=list)
    data_date = models.DateField(_("date of the FINESS data"), null=True)
    checked_at = models.DateTimeField(_("checked at"))

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("FINESS check of an officine")
        verbose_name_plural = _("FINESS checks of officines")
        # By status, then officine: the dashboard's first rows come in index order.
        indexes = [
            models.Index(fields=["editor", "status", "officine"], name="officine_finess_check")
        ]

    def __str__(self) -> str:
        return f"FINESS check of officine {self.officine_id}: {self.status}"
