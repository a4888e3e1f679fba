"""Officines (pharmacies) of an editor, their technical administrators and pharmacists."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from officines import identifiers
from officines.validators import finess_error, validate_card_number_field, validate_rpps_field
from portal.tenancy import TenantQuerySet


class Environment(models.TextChoices):
    PRODUCTION = "production", _("Production")
    TEST = "test", _("Test (IGC Santé TEST)")


class DelegationMode(models.TextChoices):
    EDITEUR = "editeur", _("Editor (delegated)")
    PHARMACIEN = "pharmacien", _("Pharmacist")


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


class Habilitation(models.TextChoices):
    """The ANS steps of an administrator's habilitation for one officine (its bon de commande)."""

    ORDER_TO_SEND = "order_to_send", pgettext_lazy("habilitation", "Purchase order to send")
    REQUESTED = "requested", pgettext_lazy("habilitation", "Requested")
    HABILITATED = "habilitated", pgettext_lazy("habilitation", "Habilitated")
    REVOKED = "revoked", pgettext_lazy("habilitation", "Revoked")


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


def without_alert_recipient_condition() -> models.Q:
    """Officines whose alerts reach nobody of their own (issue 14 §6): no technical
    administrator with an e-mail still habilitated for them (the `alert_contacts` rule), no
    officine mailbox, no person to inform, no pharmacist with portal access."""
    revoked = OfficineHabilitation.objects.filter(
        officine_id=models.OuterRef("pk"),
        administrator_id=models.OuterRef("technical_administrator_id"),
        state=Habilitation.REVOKED,
    )
    contact = (
        models.Q(technical_administrator__isnull=False)
        & ~models.Q(technical_administrator__email="")
        & ~models.Q(models.Exists(revoked))
    )
    pharmacists = PharmacistAccess.objects.filter(officine_id=models.OuterRef("pk"))
    return (
        ~contact
        & models.Q(notification_email="", cc_email="")
        & ~models.Q(models.Exists(pharmacists))
    )


def _habilitated_rows():
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
        Officine, primary_key=True, on_delete=models.CASCADE, related_name="coverage"
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
        verbose_name = _("officine coverage")
        verbose_name_plural = _("officine coverage")

    def __str__(self) -> str:
        return f"coverage of officine {self.officine_id}"


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
        indexes = [models.Index(fields=["editor", "status"], name="officine_finess_check")]

    def __str__(self) -> str:
        return f"FINESS check of officine {self.officine_id}: {self.status}"


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
