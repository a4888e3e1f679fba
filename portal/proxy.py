"""Trust X-Forwarded-* headers only from the reverse proxies listed in TRUSTED_PROXIES.

Django believes `X-Forwarded-Proto: https` (SECURE_PROXY_SSL_HEADER) and DRF's anonymous
throttle keys on `X-Forwarded-For`, whoever sends them: a client talking to gunicorn
directly could pass for HTTPS or dodge rate limits. This middleware runs first. From a
trusted proxy it sets REMOTE_ADDR to the client the proxy saw (the right-most address
of X-Forwarded-For that is not a proxy itself), so audit events, login lockouts and
throttles see the real client; from anyone else it drops the X-Forwarded-* headers.
TRUSTED_PROXIES holds addresses, networks (CIDR) or host names (a compose service name,
resolved again every minute).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

_FORWARDED = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
)
_RESOLVE_EVERY = 60.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """Is this peer address one of the configured proxies?"""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: list[Network] = []
        self.hosts: list[str] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.hosts.append(entry)
        self._resolved: set[str] = set()
        self._resolved_at = float("-inf")

    def __contains__(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if any(ip in network for network in self.networks):
            return True
        if not self.hosts:
            return False
        if time.monotonic() - self._resolved_at > _RESOLVE_EVERY:
            self._resolve()
        return str(ip) in self._resolved

    def _resolve(self) -> None:
        resolved: set[str] = set()
        for host in self.hosts:
            try:
                resolved.update(info[4][0] for info in socket.getaddrinfo(host, None))
            except OSError:
                logger.warning("Trusted proxy %s does not resolve", host)
        self._resolved, self._resolved_at = resolved, time.monotonic()


class TrustedProxyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.proxies = TrustedProxies(settings.TRUSTED_PROXIES)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        peer = meta.get("REMOTE_ADDR", "")
        if peer in self.proxies:
            client = self._client(meta.get("HTTP_X_FORWARDED_FOR", ""), peer)
            meta["REMOTE_ADDR"] = client
            if "HTTP_X_FORWARDED_FOR" in meta:
                meta["HTTP_X_FORWARDED_FOR"] = client  # DRF's get_ident reads this one
        else:
            for header in _FORWARDED:
                meta.pop(header, None)
        return self.get_response(request)

    def _client(self, forwarded_for: str, peer: str) -> str:
        """Right to left, the first hop that is not a trusted proxy."""
        client = peer
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                break  # garbage from further left cannot be trusted
            client = hop
            if hop not in self.proxies:
                break
        return client
