"""The portal's REST API over the standard library's HTTP client (TLS verified by default)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from portail_agent import __version__
from portail_agent.config import AgentError

USER_AGENT = "portail-agent/" + __version__


class ApiError(AgentError):
    """The portal answered with an error status (its problem `detail` is the message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Client:
    def __init__(
        self, api: str, key: str, *, ca_bundle: str | None = None, timeout: int = 30
    ) -> None:
        self.api = api.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else None

    def _url(self, path: str) -> str:
        if path.startswith("http://") or path.startswith("https://"):
            return path
        return self.api + "/" + path.lstrip("/")

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        accept: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> bytes:
        url = self._url(path)
        req = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - https/http portal URL
        req.add_header("Authorization", "Bearer " + self.key)
        req.add_header("User-Agent", USER_AGENT)
        req.add_header("Accept", accept)
        if content_type:
            req.add_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(  # noqa: S310 - the URL is the configured portal
                req, timeout=self.timeout, context=self.context
            ) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, _problem_message(exc)) from None
        except urllib.error.URLError as exc:
            raise AgentError(f"portal unreachable at {url}: {exc.reason}") from None
        except (OSError, ssl.SSLError) as exc:
            raise AgentError(f"portal unreachable at {url}: {exc}") from None

    def get_json(self, path: str) -> Any:
        return _json(self.request("GET", path))

    def post_json(self, path: str, payload: Any, *, idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        raw = self.request(
            "POST",
            path,
            body=json.dumps(payload).encode(),
            content_type="application/json",
            headers=headers,
        )
        return _json(raw) if raw else None

    def get_text(self, path: str, accept: str = "application/x-pem-file") -> str:
        return self.request("GET", path, accept=accept).decode("ascii")

    def paginate(self, path: str, **params: str) -> Iterator[dict[str, Any]]:
        """Every item of a cursor-paginated list, following `next`."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, "")})
        url: str | None = path + ("?" + query if query else "")
        while url:
            page = self.get_json(url)
            yield from page.get("results", [])
            url = page.get("next")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:
        raise AgentError("the portal answered something that is not JSON") from None


def _problem_message(exc: urllib.error.HTTPError) -> str:
    """`HTTP 403: <detail>` from an RFC 9457 problem, else the status line."""
    detail = ""
    try:
        payload = json.loads(exc.read().decode("utf-8"))
        detail = payload.get("detail") or payload.get("title") or ""
    except (ValueError, AttributeError, OSError):
        pass
    if exc.code == 503:
        retry = exc.headers.get("Retry-After") if exc.headers else None
        return "portal unavailable (HTTP 503){}".format(f", retry after {retry} s" if retry else "")
    return f"HTTP {exc.code}: {detail or exc.reason}"
