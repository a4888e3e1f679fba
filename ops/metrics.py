"""GET /metrics: Prometheus text exposition, behind a bearer token (METRICS_TOKEN) and an
optional network allow-list (METRICS_ALLOWED_NETWORKS). Without a token configured the
endpoint does not exist (404): metrics are never public by default.

The request metrics (ops.http_metrics) come from this process, or from every gunicorn
worker when PROMETHEUS_MULTIPROC_DIR is set; the business metrics (ops.collectors) are
computed now, from the database.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from functools import cache

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ops.collectors import BusinessCollector

_business = CollectorRegistry(auto_describe=False)
_business.register(BusinessCollector())


@cache
def _networks(spec: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in spec if value)


def client_allowed(request: HttpRequest) -> bool:
    allowed = tuple(getattr(settings, "METRICS_ALLOWED_NETWORKS", ()) or ())
    if not allowed:
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _networks(allowed))


def token_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def _process_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = getattr(settings, "METRICS_TOKEN", "")
    if not token:
        raise Http404
    if not client_allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    if not token_matches(request, token):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body = generate_latest(_process_registry()) + generate_latest(_business)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
