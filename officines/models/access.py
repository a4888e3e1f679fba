"""Pharmacist accesses: which officines a pharmacist's portal account may see."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from officines.models.officine import Officine
from officines.validators import validate_rpps_field
from portal.tenancy import TenantQuerySet


class PharmacistAccess(models.Model):
    """Links a pharmacist's portal account to an officine they may see."""

    tenant_editor_path = "officine__editor"
    tenant_officine_path = "officine"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pharmacist_links"
    )
    officine = models.ForeignKey(
        Officine, on_delete=models.CASCADE, related_name="pharmacist_links"
    )

    class Source(models.TextChoices):
        EDITOR = "editor", _("Granted by the editor")
        PSC = "psc", _("Pro Santé Connect activity")

    rpps = models.CharField(
        _("RPPS number"),
        max_length=11,
        blank=True,
        db_index=True,
        validators=[validate_rpps_field],
        help_text=_("Lets this pharmacist log in with Pro Santé Connect (CPS card or e-CPS)."),
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.EDITOR)
    read_only = models.BooleanField(
        _("read only"), default=False, help_text=_("May see the officine but not act for it.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("pharmacist access")
        verbose_name_plural = _("pharmacist accesses")
        constraints = [
            models.UniqueConstraint(fields=["user", "officine"], name="unique_pharmacist_officine")
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.officine}"
