"""PSC pages: allauth's OAuth 2 login and callback bound to the PSC adapter, and the editor's
PSC setting."""

from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from officines.models import PharmacistAccess
from portal.audit import audit_record
from portal.models import Editor
from portal.permissions import ADMIN_ROLES, ScopedViewMixin
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


class PscSettings(ScopedViewMixin, TemplateView):
    """Editor admins choose whether PSC activities give read access to their officines."""

    model = Editor
    roles = ADMIN_ROLES
    template_name = "psc/settings.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        editor = Editor.objects.get(pk=self.scope.editor_id)
        context["editor"] = editor
        context["configured"] = bool(settings.SOCIALACCOUNT_PROVIDERS.get(PROVIDER_ID))
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
