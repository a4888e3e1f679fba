"""Pages: the user's notifications, the editor's alert settings (policy, subscription,
webhooks, calendar feeds) and the public calendar feed behind its secret URL."""

from __future__ import annotations

import base64

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from notifications import calendar, services
from notifications.forms import (
    AlertPolicyForm,
    CalendarFeedForm,
    WebhookEndpointForm,
    WebhookEventsForm,
)
from notifications.models import (
    AlertPolicy,
    CalendarFeed,
    Notification,
    WebhookDelivery,
    WebhookEndpoint,
)
from notifications.policy import policy_thresholds
from notifications.selectors import unread_count
from notifications.webhooks import endpoints
from officines import identifiers
from officines.models import Officine
from portal import sealing
from portal.form_errors import apply_service_errors
from portal.models import Editor
from portal.permissions import ADMIN_ROLES, READ_ROLES, ScopedViewMixin, editor_roles

_SHOW_ONCE_SESSION_KEY = "notifications_show_once"


def _show_once_aad(request: HttpRequest, kind: str, pk: int | None) -> bytes:
    return f"show-once:{kind}:{pk}:{request.user.pk}".encode("ascii")


def _show_once(request: HttpRequest, kind: str, value: str, pk: int | None = None) -> None:
    """Keep a secret for the next page only. Sessions are stored in the database, so the
    secret is kept encrypted (KEY_ENCRYPTION_KEYS), never in clear."""
    request.session[_SHOW_ONCE_SESSION_KEY] = {
        "kind": kind,
        "pk": pk,
        "sealed": sealing.seal_text(value, associated_data=_show_once_aad(request, kind, pk)),
    }


def _pop_once(request: HttpRequest, kind: str, pk: int | None = None) -> str | None:
    data = request.session.get(_SHOW_ONCE_SESSION_KEY)
    if not (data and data.get("kind") == kind and data.get("pk") == pk):
        return None
    del request.session[_SHOW_ONCE_SESSION_KEY]
    try:
        return sealing.unseal_text(
            data["sealed"], associated_data=_show_once_aad(request, kind, pk)
        )
    except (KeyError, TypeError, sealing.KeyStoreError):
        return None  # not shown: the user regenerates it


# --- in-app notifications (every logged-in user, their own rows only) -------------------


class NotificationList(LoginRequiredMixin, View):
    template_name = "notifications/notification_list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        rows = Notification.objects.visible_to(request.user)
        only_unread = request.GET.get("unread") == "1"
        if only_unread:
            rows = rows.unread()
        page = Paginator(rows, 50).get_page(request.GET.get("page"))
        return render(
            request,
            self.template_name,
            {
                "page_obj": page,
                "notifications": page.object_list,
                "unread": unread_count(request.user),
                "only_unread": only_unread,
            },
        )


class NotificationMarkRead(LoginRequiredMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        notification = get_object_or_404(Notification.objects.visible_to(request.user), pk=pk)
        services.notification_mark_read(notification=notification)
        target = request.POST.get("next")
        if target == "open" and notification.url:
            return HttpResponseRedirect(notification.url)
        return HttpResponseRedirect(reverse("notifications:list"))


class NotificationMarkAllRead(LoginRequiredMixin, View):
    def post(self, request: HttpRequest) -> HttpResponse:
        count = services.notifications_mark_all_read(user=request.user)
        messages.success(request, _("%(count)d notifications marked as read.") % {"count": count})
        return HttpResponseRedirect(reverse("notifications:list"))


class NotificationBadge(LoginRequiredMixin, View):
    """The unread count for the menu, loaded by htmx so pages do not pay for it."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "notifications/_badge.html", {"unread": unread_count(request.user)})


# --- editor settings -------------------------------------------------------------------


class AlertSettings(ScopedViewMixin, TemplateView):
    """Every member sees the policy and manages their own subscription; admins change the
    policy, webhooks and calendar feeds."""

    model = AlertPolicy
    roles = READ_ROLES
    template_name = "notifications/settings.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        editor_id = self.scope.editor_id
        policy = AlertPolicy.objects.visible_to(user).first()
        extra = policy.extra_thresholds if policy else []
        context.update(
            {
                "thresholds": policy_thresholds(extra),
                "subscribed": services.is_subscribed(user),
                "policy_form": kwargs.get("policy_form")
                or AlertPolicyForm(initial={"extra_thresholds": ", ".join(map(str, extra))}),
            }
        )
        if self.scope.is_admin:
            context.update(
                {
                    "endpoints": WebhookEndpoint.objects.visible_to(user),
                    "endpoint_form": kwargs.get("endpoint_form") or WebhookEndpointForm(),
                    "feeds": CalendarFeed.objects.visible_to(user)
                    .filter(revoked_at__isnull=True)
                    .select_related("officine"),
                    "feed_form": kwargs.get("feed_form")
                    or CalendarFeedForm(initial={"language": user.language}),
                    "new_feed_url": _pop_once(self.request, "feed"),
                    "feed_header_url": calendar.feed_header_url(),
                    "editor": Editor.objects.get(pk=editor_id),
                }
            )
        return context


class AdminAction(ScopedViewMixin, View):
    roles = ADMIN_ROLES

    def editor(self) -> Editor:
        if self.scope.editor_id is None:
            raise PermissionDenied
        return Editor.objects.get(pk=self.scope.editor_id)

    def back(self) -> HttpResponse:
        return HttpResponseRedirect(reverse("notifications:settings"))

    def invalid(self, **forms) -> HttpResponse:
        view = AlertSettings()
        view.setup(self.request)
        return render(
            self.request,
            AlertSettings.template_name,
            view.get_context_data(**forms),
            status=400,
        )


class PolicyUpdate(AdminAction):
    model = AlertPolicy

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AlertPolicyForm(request.POST)
        if form.is_valid():
            try:
                services.alert_policy_update(
                    editor=self.editor(),
                    extra_thresholds=form.cleaned_data["extra_thresholds"],
                    actor=request.user,
                    request=request,
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Alert thresholds saved."))
                return self.back()
        return self.invalid(policy_form=form)


class SubscriptionUpdate(ScopedViewMixin, View):
    model = AlertPolicy
    roles = READ_ROLES

    def post(self, request: HttpRequest) -> HttpResponse:
        subscribed = request.POST.get("subscribed") == "1"
        services.alert_subscription_set(user=request.user, subscribed=subscribed)
        messages.success(
            request,
            _("You will receive the daily alert digest.")
            if subscribed
            else _("You will no longer receive the daily alert digest."),
        )
        return HttpResponseRedirect(reverse("notifications:settings"))


class WebhookCreate(AdminAction):
    roles = editor_roles("webhooks", "manage")
    model = WebhookEndpoint

    def post(self, request: HttpRequest) -> HttpResponse:
        form = WebhookEndpointForm(request.POST)
        if form.is_valid():
            try:
                endpoint, secret = endpoints.endpoint_create(
                    editor=self.editor(),
                    url=form.cleaned_data["url"],
                    events=form.cleaned_data["events"],
                    description=form.cleaned_data["description"],
                    actor=request.user,
                    request=request,
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                _show_once(request, "webhook", secret, endpoint.pk)
                return HttpResponseRedirect(
                    reverse("notifications:webhook_detail", args=[endpoint.pk])
                )
        return self.invalid(endpoint_form=form)


class WebhookDetail(ScopedViewMixin, View):
    model = WebhookEndpoint
    roles = editor_roles("webhooks", "view")

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = get_object_or_404(self.get_queryset(), pk=pk)
        deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("certificate")
        page = Paginator(deliveries, 50).get_page(request.GET.get("page"))
        return render(
            request,
            "notifications/webhook_detail.html",
            {
                "endpoint": endpoint,
                "page_obj": page,
                "deliveries": page.object_list,
                "secret": _pop_once(request, "webhook", endpoint.pk),
                "form": WebhookEventsForm(
                    initial={"events": endpoint.events, "description": endpoint.description}
                ),
            },
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = get_object_or_404(self.get_queryset(), pk=pk)
        form = WebhookEventsForm(request.POST)
        if form.is_valid():
            endpoints.endpoint_update(
                endpoint=endpoint,
                events=form.cleaned_data["events"],
                description=form.cleaned_data["description"],
                actor=request.user,
                request=request,
            )
            messages.success(request, _("Webhook saved."))
        else:
            messages.error(request, _("Choose at least one event."))
        return HttpResponseRedirect(reverse("notifications:webhook_detail", args=[pk]))


class WebhookSecret(ScopedViewMixin, View):
    model = WebhookEndpoint
    roles = editor_roles("webhooks", "manage")

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = get_object_or_404(self.get_queryset(), pk=pk)
        secret = endpoints.endpoint_regenerate_secret(
            endpoint=endpoint, actor=request.user, request=request
        )
        _show_once(request, "webhook", secret, endpoint.pk)
        return HttpResponseRedirect(reverse("notifications:webhook_detail", args=[pk]))


class WebhookToggle(ScopedViewMixin, View):
    model = WebhookEndpoint
    roles = editor_roles("webhooks", "manage")

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = get_object_or_404(self.get_queryset(), pk=pk)
        endpoints.endpoint_set_active(
            endpoint=endpoint, active=not endpoint.is_active, actor=request.user, request=request
        )
        messages.success(
            request, _("Webhook enabled.") if endpoint.is_active else _("Webhook disabled.")
        )
        return HttpResponseRedirect(reverse("notifications:webhook_detail", args=[pk]))


class WebhookDelete(ScopedViewMixin, View):
    model = WebhookEndpoint
    roles = editor_roles("webhooks", "manage")

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = get_object_or_404(self.get_queryset(), pk=pk)
        endpoints.endpoint_delete(endpoint=endpoint, actor=request.user, request=request)
        messages.success(request, _("Webhook deleted."))
        return HttpResponseRedirect(reverse("notifications:settings"))


class CalendarFeedCreate(AdminAction):
    model = CalendarFeed

    def post(self, request: HttpRequest) -> HttpResponse:
        form = CalendarFeedForm(request.POST)
        if form.is_valid():
            officine = None
            finess = identifiers.normalize_finess(form.cleaned_data["finess"] or "")
            if finess:
                officine = Officine.objects.visible_to(request.user).filter(finess=finess).first()
                if officine is None:
                    form.add_error("finess", _("No officine of yours has this FINESS."))
            if not form.errors:
                _feed, token = calendar.feed_create(
                    editor=self.editor(),
                    officine=officine,
                    language=form.cleaned_data["language"],
                    actor=request.user,
                    request=request,
                )
                _show_once(request, "feed", calendar.feed_url(token))
                return self.back()
        return self.invalid(feed_form=form)


class CalendarFeedRevoke(ScopedViewMixin, View):
    model = CalendarFeed
    roles = ADMIN_ROLES

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        feed = get_object_or_404(self.get_queryset(), pk=pk)
        calendar.feed_revoke(feed=feed, actor=request.user, request=request)
        messages.success(request, _("Calendar link revoked."))
        return HttpResponseRedirect(reverse("notifications:settings"))


def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """Public: whoever holds the secret URL (a calendar application) reads the feed."""
    feed = calendar.feed_for_token(token)
    if feed is None:
        raise Http404
    return _feed_response(feed)


def calendar_feed_authorized(request: HttpRequest) -> HttpResponse:
    """The same feed with the token in a header, out of URLs and access logs.

    `Authorization: Bearer <token>`, or HTTP Basic with the token as password (what calendar
    applications that ask for a login and password send); any user name.
    """
    feed = calendar.feed_for_token(_authorization_token(request))
    if feed is None:
        response = HttpResponse(status=401)
        response["WWW-Authenticate"] = 'Basic realm="calendar", charset="UTF-8"'
        return response
    return _feed_response(feed)


def _authorization_token(request: HttpRequest) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return ""


def _feed_response(feed: CalendarFeed) -> HttpResponse:
    response = HttpResponse(calendar.feed_render(feed), content_type="text/calendar; charset=utf-8")
    response["Vary"] = "Authorization"
    response["Content-Disposition"] = 'inline; filename="certificates.ics"'
    response["Cache-Control"] = "private, max-age=900"
    response["X-Robots-Tag"] = "noindex"
    return response
