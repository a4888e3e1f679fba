"""/api/: version 1 of the REST API, its schema and docs; anything else is a 404 problem."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from certificates.api.campaigns import CampaignViewSet
from certificates.api.certificates import CertificateViewSet
from certificates.api.requests import CertificateRequestViewSet
from console.officine_api import OfficineViewSet
from notifications.api import WebhookEndpointViewSet
from officines.habilitation_api import AdministratorChangeViewSet, HabilitationViewSet
from portal.api import views

app_name = "api"

router = SimpleRouter(use_regex_path=False)
router.register("officines", OfficineViewSet, basename="officine")
router.register("certificates", CertificateViewSet, basename="certificate")
router.register("certificate-requests", CertificateRequestViewSet, basename="certificate-request")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")
router.register("habilitations", HabilitationViewSet, basename="habilitation")
router.register(
    "administrator-changes", AdministratorChangeViewSet, basename="administrator-change"
)

views.ROOT_LINKS[:] = [
    ("officines", "api:officine-list"),
    ("certificates", "api:certificate-list"),
    ("certificate_requests", "api:certificate-request-list"),
    ("campaigns", "api:campaign-list"),
    ("webhooks", "api:webhook-list"),
    ("habilitations", "api:habilitation-list"),
    ("administrator_changes", "api:administrator-change-list"),
    ("ping", "api:ping"),
    ("schema", "api:schema"),
    ("docs", "api:docs"),
]

v1 = [
    path("", views.ApiRoot.as_view(), name="root"),
    path("ping/", views.Ping.as_view(), name="ping"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", views.SwaggerUI.as_view(url_name="api:schema"), name="docs"),
    path("", include(router.urls)),
]

urlpatterns = [
    path("v1/", include(v1)),
    re_path(r"^.*$", views.NotFound.as_view()),
]
