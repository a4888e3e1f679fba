"""The FINESS referential: public data shared by every editor (no tenant), and its refreshes."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Etablissement(models.Model):
    """An établissement (entité géographique) of the latest FINESS extract loaded."""

    finess = models.CharField(_("FINESS géographique"), max_length=9, primary_key=True)
    finess_juridique = models.CharField(_("FINESS juridique"), max_length=9, db_index=True)
    raison_sociale = models.CharField(_("raison sociale"), max_length=200)
    raison_sociale_longue = models.CharField(_("long raison sociale"), max_length=255)
    address = models.CharField(_("address"), max_length=255)
    postal_code = models.CharField(_("postal code"), max_length=10)
    city = models.CharField(_("city"), max_length=100)
    department = models.CharField(_("département"), max_length=3)
    category = models.CharField(_("category"), max_length=4)
    category_label = models.CharField(_("category label"), max_length=200)
    is_open = models.BooleanField(_("open"), default=True)
    opened_on = models.DateField(_("opened on"), null=True)
    closed_on = models.DateField(_("closed on"), null=True)
    updated_on = models.DateField(_("updated in FINESS on"), null=True)

    class Meta:
        verbose_name = _("FINESS établissement")
        verbose_name_plural = _("FINESS établissements")

    def __str__(self) -> str:
        return f"{self.raison_sociale} ({self.finess})"


class RefreshStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Loaded")
    FAILED = "failed", _("Refused")


class RefreshKind(models.TextChoices):
    FULL = "full", _("Full extract (replaces the referential)")
    DAILY = "daily", _("Daily file (updates the établissements it contains)")


class Refresh(models.Model):
    """One attempt to load a FINESS file; the last DONE one dates the referential.

    Queryable by operations: `Refresh.objects.filter(status="done").latest("finished_at")`.
    """

    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=RefreshStatus.choices, default=RefreshStatus.RUNNING
    )
    kind = models.CharField(_("kind"), max_length=8, choices=RefreshKind.choices)
    source = models.CharField(_("source"), max_length=500)
    file_format = models.CharField(_("format"), max_length=8, blank=True)
    file_sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    data_date = models.DateField(_("date of the data"), null=True, blank=True)
    loaded = models.PositiveIntegerField(_("établissements read"), default=0)
    total = models.PositiveIntegerField(_("établissements in the referential"), default=0)
    message = models.TextField(_("message"), blank=True)
    compared_at = models.DateTimeField(_("officines compared at"), null=True, blank=True)
    to_verify = models.PositiveIntegerField(_("officines to verify"), null=True, blank=True)

    class Meta:
        verbose_name = _("FINESS refresh")
        verbose_name_plural = _("FINESS refreshes")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["status", "-finished_at"], name="finess_refresh_done")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.data_date or ''} ({self.get_status_display()})"
