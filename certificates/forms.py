"""HTML forms of the certificate pages: they shape the input, the services judge it.

Rules (naming, CSR contents, passphrase strength, campaign selection) live in the
services; these forms only parse what the browser sent and carry the wizard's state.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from certificates.models import KeyMode, RevocationReason, Service
from certificates.ordering import MAX_CSR_SIZE

# The most files one bulk import takes (Django refuses more than DATA_UPLOAD_MAX_NUMBER_FILES).
MAX_IMPORT_FILES = 100


def _with_blank(choices: Any, label: Any = None) -> list[tuple[str, Any]]:
    return [("", label or _("All")), *list(choices)]


class InstalledSelect(forms.NullBooleanSelect):
    """`installed` as the pages offer it (yes / no), reading the API's true / false too."""

    # The pages' yes / no, then every spelling NullBooleanSelect (the API's until now) reads.
    VALUES = {"yes": True, "no": False, "true": True, "false": False}
    VALUES |= {"True": True, "False": False, "2": True, "3": False}

    def __init__(self, attrs=None) -> None:
        super().__init__(attrs)
        self.choices = [("", "—"), ("yes", _("Installed")), ("no", _("Not installed"))]

    def format_value(self, value):
        return [{True: "yes", False: "no"}.get(self.VALUES.get(value, value), "")]

    def value_from_datadict(self, data, files, name):
        value = data.get(name)
        return value if isinstance(value, bool) else self.VALUES.get(value)


class CertificateFilterForm(forms.Form):
    """How the certificate filters look on the pages; `certificates.filters.CertificateFilter`
    declares them (its labels are the API's descriptions, these the pages' labels)."""

    LABELS = {
        "q": _("Search"),
        "status": _("Status"),
        "profile": _("Profile"),
        "service": _("Service"),
        "finess": _("Officine FINESS"),
        "environment": _("Environment"),
        "installed": _("Installed?"),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.label = self.LABELS.get(name, field.label)
        if "q" in self.fields:
            self.fields["q"].widget.attrs.update(
                {"type": "search", "placeholder": _("Name (CN) or serial number")}
            )
        if "finess" in self.fields:
            self.fields["finess"].widget.attrs.update(
                {"inputmode": "text", "autocomplete": "off", "spellcheck": "false"}
            )


class RequestFilterForm(forms.Form):
    """How the request filters look on the request list (its status menu sends itself);
    `certificates.filters.CertificateRequestFilter` declares them."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].widget.attrs.update({"id": "request-status", "data-autosubmit": True})


class Pkcs12Form(forms.Form):
    """Passphrase (typed twice) and file profile; the export service judges the passphrase."""

    passphrase = forms.CharField(
        label=_("Passphrase"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_(
            "At least 12 characters, unaccented letters, digits, spaces and punctuation. "
            "You will need it to install the file: keep it apart from the file."
        ),
    )
    passphrase_confirm = forms.CharField(
        label=_("Passphrase (again)"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    profile = forms.ChoiceField(
        label=_("File format"),
        widget=forms.RadioSelect,
        initial="modern",
        choices=[
            ("modern", _("Modern (AES-256): recent Windows, macOS, Linux and Java")),
            ("legacy", _("Legacy (3DES): older Windows and Java versions")),
        ],
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        first, second = cleaned.get("passphrase"), cleaned.get("passphrase_confirm")
        if first and second and first != second:
            self.add_error("passphrase_confirm", _("The two passphrases differ."))
        return cleaned


class RevokeForm(forms.Form):
    reason = forms.ChoiceField(label=_("Reason"), choices=())
    confirm = forms.BooleanField(
        label=_("I confirm: the certificate was revoked on the ANS platform; this is final."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].choices = _with_blank(RevocationReason.choices, _("Choose…"))


class CsrUploadForm(forms.Form):
    csr = forms.FileField(
        label=_("CSR file"),
        help_text=_("The certificate signing request made by the LGO (.csr, .pem or .der)."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csr,.pem,.der,.req,.txt"}),
    )


class IssuedCertificateForm(forms.Form):
    """The certificate that ANS issued for a request."""

    certificate = forms.FileField(
        label=_("Issued certificate"),
        help_text=_(
            "The file downloaded from the ANS platform (.pem, .cer, .crt, .der, .p7b, or the "
            ".p12 of a key generated on the ANS platform)."
        ),
        widget=forms.ClearableFileInput(
            attrs={
                "accept": ".pem,.cer,.crt,.der,.p7b,.p7c,.txt,.p12,.pfx",
                "data-dropzone-input": "",
            }
        ),
    )
    password = forms.CharField(
        label=_("PKCS#12 passphrase"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text=_("Only for protected PKCS#12 files (.p12, .pfx); used for this import only."),
    )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one `<input type=file multiple>`."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        if not files:
            if self.required:
                raise ValidationError(self.error_messages["required"], code="required")
            return []
        if len(files) > MAX_IMPORT_FILES:
            raise ValidationError(
                _("At most %(max)d files at once."), params={"max": MAX_IMPORT_FILES}
            )
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class BulkImportForm(forms.Form):
    files = MultipleFileField(
        label=_("Certificate files"),
        help_text=_(
            "PEM, DER, PKCS#7 or PKCS#12 files, several at once. Each file is imported "
            "whole or not at all."
        ),
        widget=MultipleFileInput(
            attrs={
                "accept": ".pem,.cer,.crt,.der,.p7b,.p7c,.p12,.pfx,.txt",
                "data-dropzone-input": "",
            }
        ),
    )
    password = forms.CharField(
        label=_("PKCS#12 passphrase"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text=_("Only for protected PKCS#12 files (.p12, .pfx); used for this import only."),
    )


# --------------------------------------------------------------------------- request wizard

WIZARD_STEPS = ("officine", "service", "details", "review")
STEP_TITLES = {
    "officine": _("Officine"),
    "service": _("Service"),
    "details": _("Name, key and e-mails"),
    "review": _("Review"),
}
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "officine": ("officine",),
    "service": ("service",),
    "details": (
        "profile",
        "common_name",
        "key_mode",
        "csr",
        "csr_pem",
        "requester_email",
        "contact_email",
    ),
    "review": (),
}


class RequestWizardForm(forms.Form):
    """Every field of the wizard; a step validates its own fields and those before it.

    Fields of earlier steps travel as hidden inputs, so the wizard keeps no server state
    and the back button of the browser cannot desynchronise it.
    """

    officine = forms.ModelChoiceField(
        label=_("Officine"),
        queryset=None,
        widget=forms.HiddenInput,
        error_messages={
            "required": _("Choose an officine."),
            "invalid_choice": _("Choose an officine from the list."),
        },
    )
    service = forms.ChoiceField(
        label=_("Service"),
        choices=Service.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose the service the certificate is for.")},
    )
    profile = forms.ChoiceField(
        label=_("Certificate profile"),
        required=False,
        choices=(),
        widget=forms.RadioSelect,
    )
    common_name = forms.CharField(
        label=_("Application name (CN)"),
        strip=False,
        max_length=200,
        error_messages={"required": _("Give the application name (CN).")},
    )
    key_mode = forms.ChoiceField(
        label=_("Private key"),
        choices=KeyMode.choices,
        initial=KeyMode.CSR,
        widget=forms.RadioSelect,
        help_text=_(
            "The ANS guide asks for the CSR to be made on the machine where the certificate "
            "will be installed: the LGO keeps the key and sends only its CSR (it can do it "
            "later, the request then awaits its CSR). « Generated by the portal » means the "
            "portal makes and keeps the private key (encrypted) and hands it over as a "
            "PKCS#12; « on the ANS platform » means the administrator generates it online "
            "when ordering, with no CSR here."
        ),
    )
    csr = forms.FileField(
        label=_("CSR file (optional)"),
        required=False,
        help_text=_(
            "Only when the key is made where the certificate will be installed. You may also "
            "upload it later from the request page, or the LGO through the API."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csr,.pem,.der,.req,.txt"}),
    )
    csr_pem = forms.CharField(required=False, widget=forms.HiddenInput, max_length=MAX_CSR_SIZE)
    requester_email = forms.EmailField(
        label=_("E-mail of the requester (e-mail de l'acteur)"),
        help_text=_("Mandatory on the ANS form: ANS writes to this address."),
    )
    contact_email = forms.EmailField(
        label=_("E-mail of a person to inform"),
        required=False,
        help_text=_("Optional copy; the officine's contact by default."),
    )

    def __init__(
        self,
        *args,
        officines: QuerySet,
        step: str = "officine",
        profile_choices: list[tuple[str, Any]] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.step = step if step in WIZARD_STEPS else "officine"
        self.fields["officine"].queryset = officines
        self.fields["profile"].choices = profile_choices or []
        index = WIZARD_STEPS.index(self.step)
        active = {name for s in WIZARD_STEPS[: index + 1] for name in STEP_FIELDS[s]}
        for name, field in self.fields.items():
            if name not in active:
                field.required = False
        common_name = self.fields["common_name"].widget.attrs
        common_name.update(
            {
                "autocomplete": "off",
                "spellcheck": "false",
                "autocapitalize": "off",
                "aria-describedby": "cn-help cn-feedback",
                "hx-get": reverse_lazy("certificates:wizard_check_cn"),
                "hx-trigger": "input changed delay:300ms, blur",
                "hx-target": "#cn-feedback",
                "hx-swap": "innerHTML",
                "hx-include": "closest form",
                "hx-sync": "this:replace",
            }
        )

    @property
    def steps_done(self) -> tuple[str, ...]:
        return WIZARD_STEPS[: WIZARD_STEPS.index(self.step)]

    def carried_fields(self) -> list[forms.BoundField]:
        """Fields of the steps before this one, rendered hidden."""
        names = [n for s in self.steps_done for n in STEP_FIELDS[s] if n != "csr"]
        return [self[name] for name in names]

    def clean_csr(self):
        upload = self.cleaned_data.get("csr")
        # The service's own limit, checked before the file is read into memory.
        if upload and upload.size > MAX_CSR_SIZE:
            raise ValidationError(_("The CSR file is too large for a CSR."), code="too_large")
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("key_mode") != KeyMode.CSR:
            cleaned["csr_pem"] = ""
        return cleaned

    def csr_bytes(self) -> bytes | None:
        """The uploaded CSR (this step's file, or the one carried from the details step)."""
        upload = self.cleaned_data.get("csr")
        if upload:
            upload.seek(0)
            return upload.read()
        carried = self.cleaned_data.get("csr_pem") or ""
        return carried.encode("ascii", "replace") if carried else None


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("Campaign name"), max_length=200)
    mode = forms.ChoiceField(
        label=_("Certificates to renew"),
        widget=forms.RadioSelect,
        initial="within",
        choices=[
            ("within", _("All certificates expiring within a number of days")),
            ("selection", _("The certificates ticked in the list below")),
        ],
    )
    within_days = forms.IntegerField(
        label=_("Expiring within (days)"), required=False, min_value=1, initial=60
    )
    requester_email = forms.EmailField(
        label=_("E-mail of the requester (e-mail de l'acteur)"),
        help_text=_("Written on every ANS form of the campaign."),
    )
    contact_email = forms.EmailField(label=_("E-mail of a person to inform"), required=False)
    key_mode = forms.ChoiceField(
        label=_("New keys"),
        widget=forms.RadioSelect,
        required=False,
        initial="",
        choices=[
            ("", _("Each renewal keeps its certificate's key mode (recommended)")),
            (KeyMode.SERVER, _("The portal generates and keeps every new key")),
        ],
        help_text=_(
            "By default a certificate whose key lives where it is installed is renewed the "
            "same way: its request awaits the CSR of the LGO (its agent sends it)."
        ),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("mode") == "within" and not cleaned.get("within_days"):
            self.add_error("within_days", _("Give a number of days."))
        return cleaned
