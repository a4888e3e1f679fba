"""Request rate limits per API key (or per session user), rates in REST_FRAMEWORK settings."""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from portal.api.authentication import ApiPrincipal


class ApiRateThrottle(SimpleRateThrottle):
    """One bucket per key (`api_key` rate) or per portal user (`api_session` rate).

    The counters live in the default cache: use a shared cache (CACHE_URL=redis://...)
    when several web processes serve the API, or each process counts on its own.
    """

    def __init__(self) -> None:  # the rate is chosen per request, in allow_request
        pass

    def allow_request(self, request, view) -> bool:
        user = request.user
        if isinstance(user, ApiPrincipal):
            self.scope, ident = "api_key", f"key:{user.api_key.pk}"
        elif user is not None and user.is_authenticated:
            self.scope, ident = "api_session", f"user:{user.pk}"
        else:
            self.scope, ident = "api_anon", self.get_ident(request)
        self.rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self._ident = ident
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self._ident}
