"""HTTP for revocation data: conditional GET, OCSP POST, timeouts, size limit, proxy.

No Django here: callers pass a `FetchConfig` built from settings. Redirects are not followed
(a CRL or OCSP URL that moves is reported, not chased), and a body over the limit is an error
before it is read whole.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass

USER_AGENT = "certificate-portal-revocation/1"


class FetchError(Exception):
    """The server could not be reached or answered something unusable (message says what)."""


@dataclass(frozen=True)
class FetchConfig:
    timeout: float = 10.0
    max_bytes: int = 50 * 1024 * 1024
    proxy: str = ""  # http://proxy:3128, used for http and https


@dataclass(frozen=True)
class FetchResult:
    url: str
    status: int
    body: bytes
    etag: str = ""
    last_modified: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl}", headers, fp)


def _opener(config: FetchConfig) -> urllib.request.OpenerDirector:
    proxies = {"http": config.proxy, "https": config.proxy} if config.proxy else {}
    return urllib.request.build_opener(urllib.request.ProxyHandler(proxies), _NoRedirect())


def _read_limited(response, limit: int) -> bytes:
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        raise FetchError(f"answer too large ({int(length)} bytes, limit {limit})")
    body = response.read(limit + 1)
    if len(body) > limit:
        raise FetchError(f"answer too large (over {limit} bytes)")
    if length and length.isdigit() and len(body) < int(length):
        raise FetchError(f"answer truncated ({len(body)} of {length} bytes)")
    return body


def fetch(
    url: str,
    *,
    config: FetchConfig,
    etag: str = "",
    last_modified: str = "",
    data: bytes | None = None,
    content_type: str = "",
) -> FetchResult:
    """GET `url` (conditional when `etag` / `last_modified` are known) or POST `data`."""
    if url.split(":", 1)[0].lower() not in ("http", "https"):
        raise FetchError(f"unsupported URL scheme: {url}")
    headers = {"User-Agent": USER_AGENT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (scheme checked)
    try:
        with _opener(config).open(request, timeout=config.timeout) as response:
            body = _read_limited(response, config.max_bytes)
            return FetchResult(
                url=url,
                status=response.status,
                body=body,
                etag=response.headers.get("ETag", ""),
                last_modified=response.headers.get("Last-Modified", ""),
            )
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return FetchResult(
                url=url,
                status=304,
                body=b"",
                etag=exc.headers.get("ETag", "") or etag,
                last_modified=exc.headers.get("Last-Modified", "") or last_modified,
            )
        raise FetchError(f"HTTP {exc.code} from {url}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"{url} unreachable: {reason}") from None
