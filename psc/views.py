"""PSC pages: allauth's OAuth 2 login and callback bound to the PSC adapter, re-authentication
and "link my PSC identity" for a logged-in user, and the editor's PSC setting."""

from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount.models import SocialAccount, SocialApp
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from officines.models import PharmacistAccess
from portal.audit import audit_record
from portal.models import Editor
from portal.permissions import ADMIN_ROLES, ScopedViewMixin
from psc.linking import has_psc_identity, password_recently_confirmed
from psc.provider import PROVIDER_ID, PscOAuth2Adapter


@login_not_required
def login(request):
    try:
        return OAuth2LoginView.adapter_view(PscOAuth2Adapter(request))(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None  # PSC is not configured on this portal


@login_not_required
def callback(request):
    try:
        return OAuth2CallbackView.adapter_view(PscOAuth2Adapter(request))(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None


def psc_configured() -> bool:
    return bool(settings.SOCIALACCOUNT_PROVIDERS.get(PROVIDER_ID))


class Reauthenticate(LoginRequiredMixin, TemplateView):
    """« Confirmer avec Pro Santé Connect »: the PSC flow again (process=redirect), for a user
    whose PSC identity is linked; a fresh PSC login counts as a recent re-authentication."""

    template_name = "psc/reauthenticate.html"

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not psc_configured() or not has_psc_identity(request.user):
            raise Http404
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        next_url = self.request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={self.request.get_host()}, require_https=False
        ):
            next_url = ""
        context["next_url"] = next_url or reverse("home")
        return context


class Link(LoginRequiredMixin, TemplateView):
    """ "Link my PSC identity": offered after a password re-authentication of less than
    five minutes; the PSC flow runs with process=connect (checked again in the adapter)."""

    template_name = "psc/link.html"

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not psc_configured():
            raise Http404
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["linked"] = SocialAccount.objects.filter(
            user=self.request.user, provider=PROVIDER_ID
        ).first()
        context["fresh"] = password_recently_confirmed(self.request)
        context["reauth_url"] = (
            reverse("account_reauthenticate") + "?" + urlencode({"next": reverse("psc_link")})
        )
        return context


class PscSettings(ScopedViewMixin, TemplateView):
    """Editor admins choose whether PSC activities give read access to their officines."""

    model = Editor
    roles = ADMIN_ROLES
    template_name = "psc/settings.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        editor = Editor.objects.get(pk=self.scope.editor_id)
        context["editor"] = editor
        context["configured"] = psc_configured()
        context["psc_accesses"] = (
            PharmacistAccess.objects.visible_to(self.request.user)
            .filter(source=PharmacistAccess.Source.PSC)
            .select_related("user", "officine")
            .order_by("officine__finess")[:200]
        )
        return context

    def post(self, request: HttpRequest) -> HttpResponse:
        editor = Editor.objects.get(pk=self.scope.editor_id)
        enabled = request.POST.get("psc_officine_access") == "on"
        if enabled != editor.psc_officine_access:
            editor.psc_officine_access = enabled
            editor.save(update_fields=["psc_officine_access"])
            audit_record(
                action="editor.psc_officine_access",
                actor=request.user,
                editor=editor,
                target=editor,
                request=request,
                details={"enabled": enabled},
            )
        messages.success(request, _("Settings saved."))
        return HttpResponseRedirect(reverse("settings_psc"))
