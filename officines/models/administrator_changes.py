"""Changes of technical administrator (ANS form 503) and the officines each one covers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from officines.models.administrators import TechnicalAdministrator
from officines.models.officine import Officine
from portal.tenancy import TenantQuerySet


class ChangeStatus(models.TextChoices):
    PENDING = "pending", _("Sent to ANS, pending")
    PROCESSED = "processed", _("Processed by ANS")
    CANCELLED = "cancelled", _("Cancelled")


class AdministratorChange(models.Model):
    """A change of technical administrator (ANS form 503) for one or many officines.

    Pending until ANS processes it: meanwhile the old administrators stay habilitated and
    keep the alerts; marking it processed habilitates the new one for those officines.
    """

    tenant_editor_path = "editor"

    editor = models.ForeignKey(
        "portal.Editor", on_delete=models.CASCADE, related_name="administrator_changes"
    )
    new_administrator = models.ForeignKey(
        TechnicalAdministrator,
        on_delete=models.PROTECT,
        related_name="incoming_changes",
        verbose_name=_("new technical administrator"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=ChangeStatus.choices, default=ChangeStatus.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_by_label = models.CharField(_("requested by"), max_length=200, blank=True)
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    processed_on = models.DateField(_("processed by ANS on"), null=True, blank=True)
    closed_by_label = models.CharField(_("closed by"), max_length=200, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("change of technical administrator (form 503)")
        verbose_name_plural = _("changes of technical administrator (form 503)")
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["editor", "status"], name="admin_change_editor_status")]

    def __str__(self) -> str:
        return f"503 #{self.pk} → {self.new_administrator_id} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("officines:change_detail", args=[self.pk])

    @property
    def is_pending(self) -> bool:
        return self.status == ChangeStatus.PENDING


class AdministratorChangeItem(models.Model):
    """One officine of a form 503, with the administrator it had when the change was asked."""

    tenant_editor_path = "change__editor"
    tenant_officine_path = "officine"

    change = models.ForeignKey(AdministratorChange, on_delete=models.CASCADE, related_name="items")
    officine = models.ForeignKey(
        Officine, on_delete=models.CASCADE, related_name="administrator_change_items"
    )
    old_administrator = models.ForeignKey(
        TechnicalAdministrator,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="outgoing_change_items",
        verbose_name=_("old technical administrator"),
    )
    # Copied from the change, so "one pending change per officine" is a database rule.
    pending = models.BooleanField(default=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("officine of a form 503")
        verbose_name_plural = _("officines of a form 503")
        ordering = ["change_id", "officine_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["officine"],
                condition=models.Q(pending=True),
                name="one_pending_administrator_change_per_officine",
            ),
            models.UniqueConstraint(fields=["change", "officine"], name="unique_change_officine"),
        ]

    def __str__(self) -> str:
        return f"503 #{self.change_id}: officine {self.officine_id}"
