"""The stored coverage of each officine (a model of this app, kept beside `coverage.py`)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.tenancy import TenantQuerySet


class OfficineCoverage(models.Model):
    """Derived data: per officine, the latest expiry among its live certificates meeting each
    coverage requirement (`certificates.coverage.RULES`, one column per `Requirement.field`;
    null when no live certificate meets it). No row: the officine has no live certificate.

    Dates, not states, so a row stays true as time passes: the state ("expiring" within
    30 days...) is computed against `now` when read. Written only by
    `certificates.coverage.coverage_refresh`, in the transaction that changes the
    certificates (a `post_save` receiver; bulk writes call it themselves); the nightly
    `coverage_rebuild` repairs any drift. Dashboards and list filters read these ~10,000
    narrow rows instead of aggregating ~40,000 certificates per view (BENCHMARKS.md).
    """

    tenant_editor_path = "editor"
    tenant_officine_path = "officine"

    officine = models.OneToOneField(
        "officines.Officine", primary_key=True, on_delete=models.CASCADE, related_name="coverage"
    )
    editor = models.ForeignKey("portal.Editor", on_delete=models.CASCADE, related_name="+")
    dmp_sign_until = models.DateTimeField(null=True)
    dmp_auth_until = models.DateTimeField(null=True)
    insi_until = models.DateTimeField(null=True)
    psc_until = models.DateTimeField(null=True)
    mssante_until = models.DateTimeField(null=True)
    ror_until = models.DateTimeField(null=True)
    roc_until = models.DateTimeField(null=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        db_table = "officines_officinecoverage"  # created by officines before it moved here
        verbose_name = _("officine coverage")
        verbose_name_plural = _("officine coverage")

    def __str__(self) -> str:
        return f"coverage of officine {self.officine_id}"
