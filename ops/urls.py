"""Operations routes: the scrape endpoint and the probes (the probes are normally answered
by ops.health.HealthCheckMiddleware first; the routes make them reversible)."""

from django.urls import path

from ops import health, metrics

urlpatterns = [
    path("metrics", metrics.metrics, name="metrics"),
    path("healthz/live", health.live, name="healthz_live"),
    path("healthz/ready", health.ready, name="healthz_ready"),
]
