"""The officine (pharmacy) of an editor, its choices and its own rules."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from officines import identifiers
from officines.models.administrators import CardType, TechnicalAdministrator
from officines.validators import finess_error
from portal.tenancy import TenantQuerySet


class Environment(models.TextChoices):
    PRODUCTION = "production", _("Production")
    TEST = "test", _("Test (IGC Santé TEST)")


class DelegationMode(models.TextChoices):
    EDITEUR = "editeur", _("Editor (delegated)")
    PHARMACIEN = "pharmacien", _("Pharmacist")


MODE_EDITEUR_NEEDS_CPA = _(
    "In mode « éditeur » (Cas 1) the officine delegates to its editor: the technical "
    "administrator is designated within the editor and holds a CPA card (carte de personnel "
    "de structure). Choose such an administrator, or the mode « pharmacien »."
)
MODE_PHARMACIEN_NEEDS_CPS = _(
    "In mode « pharmacien » (Cas 2) the officine orders without delegation to its editor: the "
    "technical administrator is an employee of the officine (pharmacien titulaire or pharmacien "
    "adjoint with their CPS card). Choose such an administrator, or the mode « éditeur »."
)

# The ANS guide: certificates are ordered on the FINESS géographique of the officine.
GEO_EQUALS_JURIDIQUE = _(
    "The FINESS juridique identifies the legal entity that runs the officine; the FINESS "
    "géographique identifies the site, and it is the one certificates are ordered on. They "
    "are two different numbers: check both on finess.sante.gouv.fr."
)
GEO_IS_ANOTHER_JURIDIQUE = _(
    "%(finess)s is recorded as the FINESS juridique (legal entity) of %(officine)s. An "
    "officine is keyed by its FINESS géographique (the site), on which ANS issues its "
    "certificates: give the géographique number here (see finess.sante.gouv.fr)."
)
JURIDIQUE_IS_ANOTHER_GEO = _(
    "%(finess)s is the FINESS géographique (site) of %(officine)s: it cannot be a FINESS "
    "juridique (legal entity). Check the legal entity's number on finess.sante.gouv.fr."
)


class OfficineQuerySet(TenantQuerySet):
    def active(self) -> OfficineQuerySet:
        return self.filter(is_active=True)

    def with_habilitated_administrator(self) -> OfficineQuerySet:
        """Annotates `has_habilitated_administrator` (one SQL subquery, no query per row)."""
        return self.annotate(has_habilitated_administrator=models.Exists(_habilitated_rows()))

    def without_habilitated_administrator(self) -> OfficineQuerySet:
        """Officines where nobody may order yet: « ne pas commander : administrateur non
        habilité »."""
        return self.exclude(models.Exists(_habilitated_rows()))


def _habilitated_rows():
    # Imported here: officines.models.habilitation imports this module (its foreign key to
    # Officine), and the queryset is only called once both are loaded.
    from officines.models.habilitation import Habilitation, OfficineHabilitation

    return OfficineHabilitation.objects.filter(
        officine_id=models.OuterRef("pk"), state=Habilitation.HABILITATED
    )


class Officine(models.Model):
    """A pharmacy, keyed by its FINESS géographique within its editor."""

    tenant_editor_path = "editor"
    tenant_officine_path = ""

    editor = models.ForeignKey("portal.Editor", on_delete=models.CASCADE, related_name="officines")
    finess = models.CharField(_("FINESS géographique"), max_length=9)
    finess_juridique = models.CharField(_("FINESS juridique"), max_length=9, blank=True)
    raison_sociale = models.CharField(_("raison sociale"), max_length=200)
    address = models.CharField(_("address"), max_length=255, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=5, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    department = models.CharField(_("département"), max_length=3, blank=True, db_index=True)
    environment = models.CharField(
        _("environment"), max_length=16, choices=Environment.choices, default=Environment.PRODUCTION
    )
    delegation_mode = models.CharField(
        _("delegation mode"),
        max_length=16,
        choices=DelegationMode.choices,
        default=DelegationMode.EDITEUR,
    )
    technical_administrator = models.ForeignKey(
        TechnicalAdministrator,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="officines",
        verbose_name=_("technical administrator"),
    )
    notification_email = models.EmailField(_("notification e-mail"), blank=True)
    cc_email = models.EmailField(
        _("person to inform (e-mail)"), blank=True, help_text=_("Copied on every alert.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OfficineQuerySet.as_manager()

    class Meta:
        verbose_name = _("officine")
        verbose_name_plural = _("officines")
        ordering = ["raison_sociale", "id"]
        constraints = [
            models.UniqueConstraint(fields=["editor", "finess"], name="unique_finess_per_editor")
        ]
        indexes = [
            models.Index(fields=["editor", "raison_sociale", "id"], name="officine_editor_name"),
            models.Index(fields=["editor", "department"], name="officine_editor_dept"),
        ]

    def __str__(self) -> str:
        return f"{self.raison_sociale} ({self.finess})"

    def get_absolute_url(self) -> str:
        return reverse("officines:detail", args=[self.pk])

    @property
    def is_test(self) -> bool:
        return self.environment == Environment.TEST

    @property
    def department_label(self) -> str:
        """The ST value of certificate subjects, e.g. "Rhône (69)"."""
        return identifiers.department_label(self.department) if self.department else ""

    @property
    def structure_identifier(self) -> str:
        return identifiers.structure_identifier(self.finess, test_environment=self.is_test)

    def clean_fields(self, exclude=None) -> None:
        # Normalize first so "760 021 832" is judged as the 9 characters it stands for.
        self.finess = identifiers.normalize_finess(self.finess or "")
        self.finess_juridique = identifiers.normalize_finess(self.finess_juridique or "")
        super().clean_fields(exclude=exclude)

    def clean(self) -> None:
        errors: dict[str, ValidationError] = {}
        test = self.environment == Environment.TEST
        for field in ("finess", "finess_juridique"):
            value = getattr(self, field)
            if not value:
                continue
            try:
                setattr(self, field, identifiers.validate_finess(value, test_environment=test))
            except identifiers.IdentifierError as exc:
                errors[field] = finess_error(exc)
        if "finess" not in errors and self.finess and not self.department:
            try:
                self.department = identifiers.finess_department(self.finess)
            except identifiers.IdentifierError:
                # ANS test numbers (0A/0B...) carry no département: it must be given.
                errors["department"] = ValidationError(
                    _("Give the département: this test FINESS does not contain one."),
                    code="required",
                )
        if self.department and self.department not in identifiers.DEPARTMENTS:
            errors["department"] = ValidationError(_("Unknown département code."), code="invalid")
        if (
            "finess_juridique" not in errors
            and self.finess_juridique
            and self.finess_juridique == self.finess
        ):
            errors["finess_juridique"] = ValidationError(GEO_EQUALS_JURIDIQUE, code="same_finess")
        mismatch = self.administrator_mismatch()
        if mismatch is not None:
            errors["technical_administrator"] = mismatch
        if errors:
            raise ValidationError(errors)

    def administrator_mismatch(self) -> ValidationError | None:
        """Mode and administrator agree (ANS guide): « éditeur » ⇒ an administrator of the
        editor with a CPA card; « pharmacien » ⇒ the pharmacien titulaire or adjoint, CPS."""
        if not self.technical_administrator_id:
            return None
        if not Officine.technical_administrator.is_cached(self):
            # Chosen by the caller (form, API, CSV import) means loaded: unchanged rows are
            # not re-read here, one query per row would weigh on imports of 10,000 rows.
            return None
        card = self.technical_administrator.card_type
        if self.delegation_mode == DelegationMode.PHARMACIEN and card != CardType.CPS:
            return ValidationError(MODE_PHARMACIEN_NEEDS_CPS, code="mode_card_mismatch")
        if self.delegation_mode == DelegationMode.EDITEUR and card != CardType.CPA:
            return ValidationError(MODE_EDITEUR_NEEDS_CPA, code="mode_card_mismatch")
        return None
