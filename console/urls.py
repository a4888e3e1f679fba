"""The root URLconf: every app's pages, the combined pages of the console in their apps' namespaces."""

from django.contrib import admin
from django.urls import include, path

from certificates import coverage_views
from certificates import urls as certificate_urls
from console import certificate_pages, dashboard, officine_pages, settings_views, views
from officines import urls as officine_urls
from portal import audit_views, language
from psc import views as psc_views

# Pages of a domain app's namespace that read other apps too live here, beside its URLs.
certificate_patterns = [
    path("mine/", certificate_pages.MyOfficines.as_view(), name="my_officines"),
    path("officines/<int:pk>/", certificate_pages.OfficineCertificates.as_view(), name="officine"),
    path("<int:pk>/", certificate_pages.CertificateDetail.as_view(), name="detail"),
    *certificate_urls.urlpatterns,
]

officine_patterns = [
    path("", officine_pages.OfficineList.as_view(), name="list"),
    path("export/", officine_pages.OfficineExport.as_view(), name="export"),
    path("<int:pk>/", officine_pages.OfficineDetail.as_view(), name="detail"),
    path("administrator-change/", officine_pages.OfficineReassign.as_view(), name="reassign"),
    *officine_urls.urlpatterns,
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz/auth", views.healthz_auth, name="healthz_auth"),
    path("accounts/", include("allauth.urls")),
    path("i18n/setlang/", language.set_language, name="set_language"),  # remembered per user
    path("i18n/", include("django.conf.urls.i18n")),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("team/", views.Team.as_view(), name="team"),
    path("team/members/<int:pk>/role/", views.MembershipRole.as_view(), name="membership_role"),
    path(
        "team/members/<int:pk>/remove/", views.MembershipRemove.as_view(), name="membership_remove"
    ),
    path(
        "team/invitations/<int:pk>/revoke/",
        views.InvitationRevoke.as_view(),
        name="invitation_revoke",
    ),
    path("dashboard/", dashboard.Dashboard.as_view(), name="dashboard"),
    path("settings/", settings_views.SettingsHub.as_view(), name="settings"),
    path("settings/audit/", audit_views.AuditLog.as_view(), name="audit_log"),
    path("settings/audit/export/", audit_views.AuditExport.as_view(), name="audit_export"),
    path("settings/api-keys/", settings_views.ApiKeys.as_view(), name="settings_api_keys"),
    path(
        "settings/api-keys/<int:pk>/revoke/",
        settings_views.ApiKeyRevoke.as_view(),
        name="settings_api_key_revoke",
    ),
    path(
        "settings/coverage/",
        coverage_views.SettingsCoverage.as_view(),
        name="settings_coverage",
    ),
    path("settings/alerts/", settings_views.SettingsAlerts.as_view(), name="settings_alerts"),
    path("settings/webhooks/", settings_views.SettingsWebhooks.as_view(), name="settings_webhooks"),
    path("settings/pro-sante-connect/", psc_views.PscSettings.as_view(), name="settings_psc"),
    path("officines/", include((officine_patterns, "officines"))),
    path("certificates/", include((certificate_patterns, "certificates"))),
    path("notifications/", include("notifications.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("console.api_urls")),
    path("", include("ops.urls")),
]

# Under /api/ errors are RFC 9457 problem JSON; elsewhere Django's pages (portal.api.problems).
handler404 = "portal.api.problems.handler404"
handler500 = "portal.api.problems.handler500"
