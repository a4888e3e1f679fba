"""Who a log line is about: request id, user, editor, API key prefix, Celery task id.

Kernel-level because the outbox (portal.outbox) carries the request id into the tasks it
publishes. The values live in context variables set by `ops.requestid` (HTTP requests) and
`ops.tasksignals` (Celery tasks); `ContextFilter` copies them onto every log record and
`JsonFormatter` writes one JSON object per line when `LOG_FORMAT=json`.

Never put a secret here: only ids and the public 8-character prefix of an API key.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# A request id we accept from a client or a proxy: short, printable, no separators that
# could forge a log line or a header.
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
# The Celery message header carrying the request id into tasks.
TASK_HEADER = "portal_request_id"

request_id_var: ContextVar[str] = ContextVar("portal_request_id", default="")
task_id_var: ContextVar[str] = ContextVar("portal_task_id", default="")
# The HttpRequest being served: user, editor and API key are read from it at logging time
# (only what authentication already loaded: a log line never triggers a query).
http_request_var: ContextVar[Any] = ContextVar("portal_http_request", default=None)

_SCOPE_CACHE = "_portal_scope"  # portal.tenancy caches a user's scope under this attribute


def valid_request_id(value: str | None) -> str:
    """`value` when it is a well-formed request id, else ""."""
    return value if value and REQUEST_ID_RE.match(value) else ""


def current_request_id() -> str:
    return request_id_var.get()


def _loaded_user(request: Any) -> Any:
    """request.user if authentication already resolved it, else None (no query here)."""
    user = request.__dict__.get("user") if request is not None else None
    if user is None:
        return None
    from django.utils.functional import empty

    wrapped = getattr(user, "_wrapped", user)  # SimpleLazyObject: evaluated or not
    return None if wrapped is empty else wrapped


def context_fields() -> dict[str, Any]:
    """The identifiers of the current request or task (empty values left out)."""
    fields: dict[str, Any] = {}
    if request_id := request_id_var.get():
        fields["request_id"] = request_id
    if task_id := task_id_var.get():
        fields["task_id"] = task_id
    user = _loaded_user(http_request_var.get())
    if user is not None and getattr(user, "is_authenticated", False):
        api_key = getattr(user, "api_key", None)
        if api_key is not None:  # portal.api.authentication.ApiPrincipal
            fields["api_key_prefix"] = api_key.prefix
            fields["editor_id"] = api_key.editor_id
        else:
            fields["user_id"] = user.pk
            scope = getattr(user, _SCOPE_CACHE, None)
            if scope is not None and scope.editor_id:
                fields["editor_id"] = scope.editor_id
    return fields


class ContextFilter(logging.Filter):
    """Adds the context fields as record attributes (plain format: `%(request_id)s`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = context_fields()
        record.context = fields
        record.request_id = fields.get("request_id", "-")
        return True


# LogRecord attributes that are not "extra" fields given by the caller.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "context",
    "request_id",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context ids, extras, error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "context", None) or context_fields())
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)
