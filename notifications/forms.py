"""Forms of the alert settings page."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from notifications.models import MAX_EXTRA_THRESHOLDS, WebhookEvent


class AlertPolicyForm(forms.Form):
    extra_thresholds = forms.CharField(
        label=_("Extra thresholds (days before expiry)"),
        required=False,
        max_length=100,
        help_text=_(
            "Comma-separated, e.g. 90, 60. Alerts at 30, 15, 7, 1 and 0 days, then weekly "
            "after expiry, always apply."
        ),
    )

    def clean_extra_thresholds(self) -> list[str]:
        raw = self.cleaned_data["extra_thresholds"] or ""
        values = [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]
        if len(values) > MAX_EXTRA_THRESHOLDS * 2:
            raise forms.ValidationError(_("Too many values."))
        return values


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(label=_("URL (https)"), max_length=500)
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[WebhookEvent.EXPIRING, WebhookEvent.EXPIRED],
    )


class WebhookEventsForm(forms.Form):
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    events = forms.MultipleChoiceField(
        label=_("Events"), choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple
    )


class CalendarFeedForm(forms.Form):
    finess = forms.CharField(
        label=_("FINESS of the officine"),
        required=False,
        max_length=12,
        help_text=_("Leave empty for a feed of all your officines."),
    )
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES, initial="fr")
