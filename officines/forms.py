from django import forms
from django.utils.translation import gettext_lazy as _

from officines.models import Officine, TechnicalAdministrator


class TenantModelForm(forms.ModelForm):
    """Validates per-editor unique constraints although `editor` is not a form field."""

    def _get_validation_exclusions(self):
        exclusions = super()._get_validation_exclusions()
        exclusions.discard("editor")
        return exclusions


class OfficineForm(TenantModelForm):
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
        self.fields["finess"].help_text = _("9 characters, with its check digit.")


class TechnicalAdministratorForm(TenantModelForm):
    class Meta:
        model = TechnicalAdministrator
        fields = [
            "full_name",
            "email",
            "card_type",
            "card_number",
            "habilitation",
            "requested_at",
            "habilitated_at",
            "revoked_at",
        ]
        widgets = {
            "requested_at": forms.DateInput(attrs={"type": "date"}),
            "habilitated_at": forms.DateInput(attrs={"type": "date"}),
            "revoked_at": forms.DateInput(attrs={"type": "date"}),
        }


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


class AdministratorChoiceForm(forms.Form):
    """The new technical administrator of a set of officines (choices limited to the editor)."""

    administrator = forms.ModelChoiceField(
        queryset=TechnicalAdministrator.objects.none(), label=_("New technical administrator")
    )

    def __init__(self, *args, administrators, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["administrator"].queryset = administrators
