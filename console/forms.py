"""Forms of the team pages: invitations, accepting one, roles."""

from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from officines.models import Officine
from officines.validators import validate_rpps_field
from portal.models import InvitationKind, Role, User


class InvitationAcceptForm(forms.Form):
    full_name = forms.CharField(label=_("Full name"), max_length=150)
    password1 = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label=_("Password (again)"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, email: str, **kwargs) -> None:
        self.email = email
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("The two passwords differ."))
        elif p1:
            try:
                password_validation.validate_password(p1, User(email=self.email))
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    kind = forms.ChoiceField(label=_("Kind"), choices=InvitationKind.choices)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, required=False)
    officines = forms.ModelMultipleChoiceField(
        label=_("Officines (pharmacists)"), queryset=Officine.objects.none(), required=False
    )
    rpps = forms.CharField(
        label=_("RPPS number"),
        required=False,
        max_length=20,
        validators=[validate_rpps_field],
        help_text=_("Lets this person accept the invitation by logging in with Pro Santé Connect."),
    )

    def clean_rpps(self) -> str:
        return "".join((self.cleaned_data.get("rpps") or "").split())

    def __init__(self, *args, officines, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["officines"].queryset = officines


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
