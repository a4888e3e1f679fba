"""Technical administrators: the people habilitated at ANS to order an officine's certificates."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from officines.validators import validate_card_number_field
from portal.tenancy import TenantQuerySet


class CardType(models.TextChoices):
    CPA = "CPA", _("CPA (staff card)")
    CPS = "CPS", _("CPS (health professional card)")


class AdministratorKind(models.TextChoices):
    """Who the technical administrator is (ANS guide): an employee of the editor (Cas 1), or
    the officine's pharmacien titulaire or adjoint (Cas 2)."""

    EDITOR = "editor", _("Administrator of the editor (CPA card)")
    TITULAIRE = "titulaire", _("Pharmacien titulaire (CPS card)")
    ADJOINT = "adjoint", _("Pharmacien adjoint (CPS card)")


KIND_CARD_MISMATCH = _(
    "An administrator of the editor holds a CPA card (carte de personnel de structure); a "
    "pharmacien titulaire or adjoint holds a CPS card."
)


class TechnicalAdministrator(models.Model):
    """The person habilitated at ANS to order and install an officine's certificates."""

    tenant_editor_path = "editor"
    tenant_officine_path = "officines"

    editor = models.ForeignKey(
        "portal.Editor", on_delete=models.CASCADE, related_name="technical_administrators"
    )
    full_name = models.CharField(_("full name"), max_length=150)
    email = models.EmailField(
        _("notification e-mail"),
        help_text=_("ANS writes here; a generic mailbox is advised."),
    )
    card_type = models.CharField(
        _("card type"), max_length=3, choices=CardType.choices, default=CardType.CPA
    )
    kind = models.CharField(
        _("kind of administrator"),
        max_length=16,
        choices=AdministratorKind.choices,
        blank=True,
        help_text=_("Left empty: deduced from the card (CPA: the editor's; CPS: titulaire)."),
    )
    card_number = models.CharField(
        _("card number"),
        max_length=10,
        blank=True,
        validators=[validate_card_number_field],
        help_text=_(
            "Leave empty while the card is on order (form 301): the administrator cannot be "
            "habilitated until the number is set."
        ),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="technical_administrators",
        verbose_name=_("portal user"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("technical administrator")
        verbose_name_plural = _("technical administrators")
        ordering = ["full_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["editor", "card_number"],
                condition=~models.Q(card_number=""),
                name="unique_card_number_per_editor",
            )
        ]

    def __str__(self) -> str:
        if self.card_on_order:
            return f"{self.full_name} ({self.card_type} {_('card on order')})"
        return f"{self.full_name} ({self.card_type} {self.card_number})"

    def save(self, *args, **kwargs) -> None:
        if not self.kind:
            self.kind = (
                AdministratorKind.EDITOR
                if self.card_type == CardType.CPA
                else AdministratorKind.TITULAIRE
            )
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "kind"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("officines:administrator_detail", args=[self.pk])

    def clean(self) -> None:
        super().clean()
        if self.kind and (self.kind == AdministratorKind.EDITOR) != (
            self.card_type == CardType.CPA
        ):
            raise ValidationError({"kind": ValidationError(KIND_CARD_MISMATCH, code="kind_card")})

    @property
    def card_on_order(self) -> bool:
        """No active card yet (form 301 sent): recorded, but not habilitable."""
        return not self.card_number
