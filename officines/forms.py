"""Forms of the officine and administrator pages (editing, import, change of administrator)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from officines import finess_rules
from officines.identifiers import normalize_finess
from officines.models import Habilitation, Officine, TechnicalAdministrator


class TenantModelForm(forms.ModelForm):
    """Validates per-editor unique constraints although `editor` is not a form field."""

    def _get_validation_exclusions(self):
        exclusions = super()._get_validation_exclusions()
        exclusions.discard("editor")
        return exclusions


class OfficineForm(TenantModelForm):
    confirm_finess = forms.BooleanField(
        label=_("Register this officine although the FINESS referential does not confirm it"),
        required=False,
        widget=forms.HiddenInput,
    )

    class Meta:
        model = Officine
        fields = [
            "finess",
            "finess_juridique",
            "raison_sociale",
            "address",
            "postal_code",
            "city",
            "department",
            "environment",
            "delegation_mode",
            "technical_administrator",
            "notification_email",
            "cc_email",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["technical_administrator"].queryset = TechnicalAdministrator.objects.filter(
            editor_id=self.instance.editor_id
        )
        self.fields["technical_administrator"].label = _("Main technical administrator")
        self.fields["technical_administrator"].help_text = _(
            "The contact for alerts. Choosing someone who is not yet an administrator of this "
            "officine records a change of administrator (form 503), pending until ANS "
            "processes it."
        )
        self.fields["finess"].help_text = _("9 characters, with its check digit.")
        self.finess_lookup: finess_rules.FinessLookup | None = None
        self.finess_differences: list[dict[str, str]] = []
        if self.instance.pk:
            del self.fields["confirm_finess"]
        else:
            # Left blank, it is filled from the FINESS referential (category 620).
            self.fields["raison_sociale"].required = False

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk or self.errors.get("finess"):
            return cleaned
        lookup = finess_rules.finess_lookup(normalize_finess(cleaned.get("finess") or ""))
        self.finess_lookup = lookup
        if lookup.refused:
            self.add_error("finess", lookup.message())
        elif lookup.needs_confirmation and not cleaned.get("confirm_finess"):
            self.fields["confirm_finess"].widget = forms.CheckboxInput()
            self.add_error("confirm_finess", lookup.message())
        elif lookup.fills:
            values = finess_rules.referential_values(lookup.etablissement)
            self.finess_differences = finess_rules.differences(_Given(cleaned), lookup)
            for name, value in values.items():
                if name in self.fields and value and not cleaned.get(name):
                    cleaned[name] = value
        if not cleaned.get("raison_sociale") and "raison_sociale" not in self.errors:
            self.add_error("raison_sociale", forms.Field.default_error_messages["required"])
        return cleaned


class _Given:
    """The values typed in a form, read like an officine by `finess_rules.differences`."""

    _meta = Officine._meta

    def __init__(self, values: dict) -> None:
        self.__dict__.update({k: v for k, v in values.items() if isinstance(v, str)})

    def __getattr__(self, name: str) -> str:
        return ""


class TechnicalAdministratorForm(TenantModelForm):
    class Meta:
        model = TechnicalAdministrator
        fields = [
            "full_name",
            "email",
            "kind",
            "card_type",
            "card_number",
        ]


class OfficineImportForm(forms.Form):
    """Upload of a CSV file of officines; `officine_import_create` checks its size and content."""

    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "Separator “;” or “,”; UTF-8 or Windows-1252 (Excel) encoding. "
            "The first line names the columns."
        ),
    )

    def __init__(self, *args, max_size: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].widget.attrs.update(
            {
                "accept": ".csv,.txt,text/csv",
                "data-max-size": str(max_size),
                "data-max-size-message": _("This file is larger than %(max)s MB.")
                % {"max": f"{max_size / 1048576:.1f}"},
            }
        )


class ImportConfirmForm(forms.Form):
    valid_only = forms.BooleanField(
        label=_("Import only the valid rows and skip the rows with errors"),
        required=False,
    )
    confirm_finess = forms.BooleanField(
        label=_("I checked the officines whose FINESS the referential does not confirm"),
        required=False,
    )


class AdministratorChoiceForm(forms.Form):
    """The new technical administrator of a set of officines (choices limited to the editor)."""

    administrator = forms.ModelChoiceField(
        queryset=TechnicalAdministrator.objects.none(), label=_("New technical administrator")
    )

    def __init__(self, *args, administrators, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["administrator"].queryset = administrators


class HabilitationForm(forms.Form):
    """One ANS step for an administrator at one officine (or at a FINESS list, in bulk)."""

    administrator = forms.ModelChoiceField(
        queryset=TechnicalAdministrator.objects.none(), label=_("Technical administrator")
    )
    state = forms.ChoiceField(choices=Habilitation.choices, label=_("Habilitation"))
    on = forms.DateField(
        label=_("Date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Date of this step at ANS; today when left empty."),
    )

    def __init__(self, *args, administrators, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["administrator"].queryset = administrators


class BulkHabilitationForm(HabilitationForm):
    finess_list = forms.CharField(
        label=_("FINESS géographiques"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "mono"}),
        help_text=_("One per line, or separated by spaces, commas or semicolons."),
    )
    file = forms.FileField(
        label=_("…or a file of FINESS"),
        required=False,
        help_text=_("A text or CSV file: the first column holds the FINESS."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
    )

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        text = cleaned.get("finess_list") or ""
        if upload is not None:
            if upload.size > 2 * 1024 * 1024:
                raise forms.ValidationError(_("This file is larger than 2 MB."))
            raw = upload.read()
            try:
                text += "\n" + raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                text += "\n" + raw.decode("cp1252", errors="replace")
        if not text.strip():
            raise forms.ValidationError(_("Paste or upload at least one FINESS."))
        cleaned["text"] = text
        return cleaned


class MainContactForm(forms.Form):
    administrator = forms.ModelChoiceField(
        queryset=TechnicalAdministrator.objects.none(), label=_("Main contact for alerts")
    )

    def __init__(self, *args, administrators, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["administrator"].queryset = administrators


class ChangeProcessForm(forms.Form):
    processed_on = forms.DateField(
        label=_("Processed by ANS on"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
