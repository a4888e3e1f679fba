"""Pro Santé Connect: log in with a CPS card or e-CPS through django-allauth's OpenID Connect."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PscConfig(AppConfig):
    name = "psc"
    verbose_name = _("Pro Santé Connect")
