"""Which webhook target URLs are allowed: https, no credentials, no private addresses.

Checked when an endpoint is registered (`validate_webhook_url`) and again at every attempt
(`check_resolved`: the host must not resolve to a private, loopback, link-local or reserved
address unless WEBHOOK_ALLOW_PRIVATE_NETWORKS; loopback also with the localhost flag).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _allow_http_localhost() -> bool:
    return bool(settings.DEBUG or getattr(settings, "WEBHOOK_ALLOW_HTTP_LOCALHOST", False))


def validate_webhook_url(url: str) -> str:
    """https only (http for localhost in development or tests), no credentials, a host."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError(_("Enter a valid URL."), code="invalid") from None
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in ("https", "http"):
        raise ValidationError(_("Enter a valid https:// URL."), code="invalid")
    if parts.username or parts.password:
        raise ValidationError(_("Credentials in the URL are not allowed."), code="credentials")
    if parts.fragment:
        raise ValidationError(_("A webhook URL has no #fragment."), code="fragment")
    if port is not None and not 1 <= port <= 65535:
        raise ValidationError(_("Enter a valid URL."), code="invalid")
    local = host in LOCAL_HOSTS
    if parts.scheme == "http" and not (local and _allow_http_localhost()):
        raise ValidationError(_("The URL must use https://."), code="https_required")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and not address_allowed(address):
        raise ValidationError(
            _("This address is not reachable from the portal."), code="private_address"
        )
    if local and not _allow_http_localhost():
        raise ValidationError(
            _("This address is not reachable from the portal."), code="private_address"
        )
    return url


def address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if getattr(settings, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", False):
        return True
    if address.is_loopback:
        return _allow_http_localhost()
    return address.is_global and not address.is_multicast


def check_resolved(host: str, port: int) -> None:
    """Refuse hosts that resolve to internal addresses (checked again at every attempt)."""
    for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP):
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address_allowed(address):
            raise OSError(f"{host} resolves to a non-public address ({address})")
