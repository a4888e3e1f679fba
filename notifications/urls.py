"""URLs of the notification pages (namespace `notifications`)."""

from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.NotificationList.as_view(), name="list"),
    path("badge/", views.NotificationBadge.as_view(), name="badge"),
    path("read-all/", views.NotificationMarkAllRead.as_view(), name="mark_all_read"),
    path("<int:pk>/read/", views.NotificationMarkRead.as_view(), name="mark_read"),
    path("settings/", views.AlertSettings.as_view(), name="settings"),
    path("settings/policy/", views.PolicyUpdate.as_view(), name="policy_update"),
    path("settings/subscription/", views.SubscriptionUpdate.as_view(), name="subscription"),
    path("webhooks/new/", views.WebhookCreate.as_view(), name="webhook_create"),
    path("webhooks/<int:pk>/", views.WebhookDetail.as_view(), name="webhook_detail"),
    path("webhooks/<int:pk>/secret/", views.WebhookSecret.as_view(), name="webhook_secret"),
    path("webhooks/<int:pk>/toggle/", views.WebhookToggle.as_view(), name="webhook_toggle"),
    path("webhooks/<int:pk>/delete/", views.WebhookDelete.as_view(), name="webhook_delete"),
    path("calendar/new/", views.CalendarFeedCreate.as_view(), name="calendar_create"),
    path("calendar/<int:pk>/revoke/", views.CalendarFeedRevoke.as_view(), name="calendar_revoke"),
    # Token in a header (Bearer, or Basic password): nothing secret in the URL.
    path("calendar/feed.ics", views.calendar_feed_authorized, name="calendar_feed_authorized"),
    path("calendar/<str:token>.ics", views.calendar_feed, name="calendar_feed"),
]
