"""Request ids: every request gets one (a well-formed incoming `X-Request-ID` from the proxy
is kept), it is returned in the `X-Request-ID` response header, stamped on every log line
(portal.logcontext) and carried into the Celery tasks the request enqueues
(ops.tasksignals, portal.outbox)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from portal.logcontext import http_request_var, request_id_var, valid_request_id

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"


class RequestIdMiddleware:
    """Outermost middleware: the id exists before anything logs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = valid_request_id(request.META.get(META_KEY)) or uuid.uuid4().hex
        request.request_id = request_id
        request_id_var.set(request_id)
        http_request_var.set(request)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


@receiver(request_finished, dispatch_uid="ops.request_id_clear")
def _clear(**kwargs) -> None:
    """Cleared once the response is sent, not when the middleware returns: Django logs a
    4xx/5xx response after the middleware chain, and that line needs the ids too."""
    request_id_var.set("")
    http_request_var.set(None)
