"""Home, invitations and team management."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.generic import TemplateView, View

from console.forms import InvitationAcceptForm, InvitationForm, RoleForm
from officines.models import Officine
from portal import services
from portal.form_errors import apply_service_errors
from portal.models import Invitation, Membership
from portal.permissions import ScopedViewMixin, editor_roles
from portal.tenancy import user_scope


def home(request: HttpRequest) -> HttpResponse:
    """Send each person to where their work is."""
    if not request.user.is_authenticated:
        return redirect("account_login")
    scope = user_scope(request.user)
    if scope.is_member:
        return redirect("dashboard")
    if scope.is_pharmacist:
        return redirect("certificates:my_officines")
    if request.user.is_staff:
        return redirect("admin:index")
    return render(request, "portal/no_access.html", status=403)


@login_required
def healthz_auth(request: HttpRequest) -> HttpResponse:
    """The cheapest authenticated page: the reference the page benchmarks compare with."""
    return HttpResponse("ok", content_type="text/plain")


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = services.invitation_for_token(token)
    if invitation is None:
        return render(request, "portal/invitation_invalid.html", status=404)
    form = InvitationAcceptForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(
                token=token,
                password=form.cleaned_data["password1"],
                full_name=form.cleaned_data["full_name"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Welcome! Your account is ready."))
            return redirect("home")
    return render(
        request, "portal/invitation_accept.html", {"form": form, "invitation": invitation}
    )


class Team(ScopedViewMixin, TemplateView):
    """Editor admins manage their colleagues, pharmacists and pending invitations."""

    model = Membership
    roles = editor_roles("team", "view")
    template_name = "portal/team.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context["memberships"] = (
            Membership.objects.visible_to(user).select_related("user").order_by("user__email")
        )
        context["invitations"] = Invitation.objects.visible_to(user).filter(
            accepted_at__isnull=True, revoked_at__isnull=True
        )
        context["form"] = kwargs.get("form") or self._form()
        context["role_form"] = RoleForm()
        return context

    def _form(self, data=None) -> InvitationForm:
        return InvitationForm(data, officines=Officine.objects.visible_to(self.request.user))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = self._form(request.POST)
        if form.is_valid():
            try:
                services.invitation_create(
                    editor=request.user.membership.editor,
                    email=form.cleaned_data["email"],
                    kind=form.cleaned_data["kind"],
                    role=form.cleaned_data["role"] or "viewer",
                    officines=list(form.cleaned_data["officines"]),
                    invited_by=request.user,
                    language=request.LANGUAGE_CODE,
                    rpps=form.cleaned_data["rpps"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Invitation sent."))
                return HttpResponseRedirect(reverse("team"))
        return self.render_to_response(self.get_context_data(form=form))


class MembershipRole(ScopedViewMixin, View):
    model = Membership
    roles = editor_roles("team", "manage")

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        membership = get_object_or_404(self.get_queryset(), pk=pk)
        form = RoleForm(request.POST)
        if form.is_valid() and membership.user_id != request.user.pk:
            services.membership_set_role(
                membership=membership, role=form.cleaned_data["role"], by=request.user
            )
            messages.success(request, _("Role changed."))
        else:
            messages.error(request, _("You cannot change your own role."))
        return HttpResponseRedirect(reverse("team"))


class MembershipRemove(ScopedViewMixin, View):
    model = Membership
    roles = editor_roles("team", "manage")

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        membership = get_object_or_404(self.get_queryset(), pk=pk)
        if membership.user_id == request.user.pk:
            messages.error(request, _("You cannot remove yourself."))
        else:
            services.membership_remove(membership=membership, by=request.user)
            messages.success(request, _("Access removed."))
        return HttpResponseRedirect(reverse("team"))


class InvitationRevoke(ScopedViewMixin, View):
    model = Invitation
    roles = editor_roles("team", "manage")

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        invitation = get_object_or_404(self.get_queryset(), pk=pk)
        services.invitation_revoke(invitation=invitation, by=request.user)
        messages.success(request, _("Invitation revoked."))
        return HttpResponseRedirect(reverse("team"))
