"""Habilitations: one technical administrator's ANS steps for one officine."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from officines.models.administrators import TechnicalAdministrator
from officines.models.officine import Officine
from portal.tenancy import TenantQuerySet


class Habilitation(models.TextChoices):
    """The ANS steps of an administrator's habilitation for one officine (its bon de commande)."""

    ORDER_TO_SEND = "order_to_send", pgettext_lazy("habilitation", "Purchase order to send")
    REQUESTED = "requested", pgettext_lazy("habilitation", "Requested")
    HABILITATED = "habilitated", pgettext_lazy("habilitation", "Habilitated")
    REVOKED = "revoked", pgettext_lazy("habilitation", "Revoked")


class OfficineHabilitation(models.Model):
    """One technical administrator's habilitation for one officine, as ANS processes its
    bon de commande: ANS habilitates an administrator structure by structure.

    The officine's `technical_administrator` is its main contact (the one alerts go to);
    every administrator of the officine, the main one included, has a row here.
    """

    tenant_editor_path = "editor"
    tenant_officine_path = "officine"

    editor = models.ForeignKey("portal.Editor", on_delete=models.CASCADE, related_name="+")
    officine = models.ForeignKey(Officine, on_delete=models.CASCADE, related_name="habilitations")
    administrator = models.ForeignKey(
        TechnicalAdministrator,
        on_delete=models.CASCADE,
        related_name="habilitations",
        verbose_name=_("technical administrator"),
    )
    state = models.CharField(
        _("habilitation"),
        max_length=16,
        choices=Habilitation.choices,
        default=Habilitation.ORDER_TO_SEND,
    )
    requested_on = models.DateField(_("requested on"), null=True, blank=True)
    habilitated_on = models.DateField(_("habilitated on"), null=True, blank=True)
    revoked_on = models.DateField(_("revoked on"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("habilitation")
        verbose_name_plural = _("habilitations")
        ordering = ["officine_id", "administrator_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["officine", "administrator"], name="unique_habilitation_per_officine"
            )
        ]
        indexes = [
            models.Index(fields=["officine", "state"], name="habilitation_officine_state"),
            models.Index(fields=["administrator", "state"], name="habilitation_admin_state"),
        ]

    def __str__(self) -> str:
        return f"{self.administrator_id} @ {self.officine_id}: {self.state}"

    @property
    def state_date(self):
        """The date of the current step (None for « bon de commande à envoyer »)."""
        return {
            Habilitation.REQUESTED: self.requested_on,
            Habilitation.HABILITATED: self.habilitated_on,
            Habilitation.REVOKED: self.revoked_on,
        }.get(self.state)
