"""Stored CSV imports of officines: the uploaded file, its status, counts and preview."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from portal.tenancy import TenantQuerySet


class ImportStatus(models.TextChoices):
    VALIDATING = "validating", _("Checking the file")
    VALIDATED = "validated", _("Ready to import")
    IMPORTING = "importing", _("Importing")
    DONE = "done", _("Imported")
    FAILED = "failed", _("Failed")


class ImportMode(models.TextChoices):
    ALL = "all", _("All rows (nothing if one row is wrong)")
    VALID_ONLY = "valid_only", _("Valid rows only")


class OfficineImport(models.Model):
    """An uploaded CSV of officines: kept (decoded) between preview and confirmation.

    Large files are checked and imported by the worker; `processed` feeds the progress bar.
    """

    tenant_editor_path = "editor"

    editor = models.ForeignKey(
        "portal.Editor", on_delete=models.CASCADE, related_name="officine_imports"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    filename = models.CharField(_("file name"), max_length=255, blank=True)
    content = models.TextField(_("file content"))
    status = models.CharField(
        _("status"), max_length=16, choices=ImportStatus.choices, default=ImportStatus.VALIDATING
    )
    mode = models.CharField(
        _("mode"), max_length=16, choices=ImportMode.choices, default=ImportMode.ALL
    )
    total = models.PositiveIntegerField(_("rows"), default=0)
    processed = models.PositiveIntegerField(_("rows processed"), default=0)
    to_create = models.PositiveIntegerField(_("to create"), default=0)
    to_update = models.PositiveIntegerField(_("to update"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    invalid_rows = models.PositiveIntegerField(_("rows with errors"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    # [{"row": 3, "field": "finess", "label": "FINESS géographique", "message": "..."}], capped.
    errors = models.JSONField(_("errors"), default=list, blank=True)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    # {"rows": first rows with their planned action, "ignored_columns": [...]}.
    preview = models.JSONField(_("preview"), default=dict, blank=True)
    failure = models.CharField(_("failure"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("uploaded on"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished on"), null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("officine import")
        verbose_name_plural = _("officine imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.filename or self.pk} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("officines:import_detail", args=[self.pk])

    @property
    def is_running(self) -> bool:
        return self.status in (ImportStatus.VALIDATING, ImportStatus.IMPORTING)
