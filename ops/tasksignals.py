"""Celery signal receivers: the request id travels into tasks, every task run is recorded.

- `before_task_publish` puts the current request id (portal.logcontext) in the message
  headers, unless the publisher set one (the outbox does, for messages drained later);
- `task_prerun` / `task_postrun` set and clear the request id and task id of the worker's
  log lines;
- `task_success` / `task_failure` update `TaskRun` (last success, failures) for any task, so
  a new beat task (revocation lists, FINESS refresh ...) is watched without code of its own.

Eager runs (tests, CELERY_TASK_ALWAYS_EAGER) are recorded only with OPS_RECORD_EAGER_TASKS,
so a request that runs a task inline does not pay an extra write.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.signals import (
    before_task_publish,
    task_failure,
    task_postrun,
    task_prerun,
    task_success,
)
from django.conf import settings
from django.db import DatabaseError, models
from django.utils import timezone

from portal.logcontext import TASK_HEADER, request_id_var, task_id_var, valid_request_id

logger = logging.getLogger(__name__)

_TOKENS = "_ops_log_tokens"
_STARTED = "_ops_started"


@before_task_publish.connect(dispatch_uid="ops.request_id_header")
def _add_request_id(sender: str | None = None, headers: dict | None = None, **kwargs: Any) -> None:
    if headers is not None and not headers.get(TASK_HEADER):
        request_id = request_id_var.get()
        if request_id:
            headers[TASK_HEADER] = request_id


def header_of(request: Any) -> str | None:
    """The request id header of a task: a message header becomes a request attribute in a
    worker; an eager run keeps headers in `request.headers`."""
    value = getattr(request, TASK_HEADER, None)
    if not value and isinstance(getattr(request, "headers", None), dict):
        value = request.headers.get(TASK_HEADER)
    return value


@task_prerun.connect(dispatch_uid="ops.task_context")
def _task_started(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task is None:
        return
    request_id = valid_request_id(header_of(task.request)) or request_id_var.get()
    tokens = (task_id_var.set(task_id or ""), request_id_var.set(request_id))
    setattr(task.request, _TOKENS, tokens)
    setattr(task.request, _STARTED, time.monotonic())


@task_postrun.connect(dispatch_uid="ops.task_context_end")
def _task_ended(task: Any = None, **kwargs: Any) -> None:
    tokens = getattr(task.request, _TOKENS, None) if task is not None else None
    if tokens:
        task_id_var.reset(tokens[0])
        request_id_var.reset(tokens[1])
        setattr(task.request, _TOKENS, None)


def _should_record(task: Any) -> bool:
    if task is None:
        return False
    return not task.request.is_eager or getattr(settings, "OPS_RECORD_EAGER_TASKS", False)


def record_run(task_name: str, *, success: bool, duration: float | None = None) -> None:
    """Count one run of `task_name`; a database outage loses the record, never the task."""
    from ops.models import TaskRun  # connected at Celery import, before models are loaded

    now = timezone.now()
    if success:
        changes = {"successes": models.F("successes") + 1, "last_success_at": now}
    else:
        changes = {"failures": models.F("failures") + 1, "last_failure_at": now}
    if duration is not None:
        changes["last_duration"] = duration
    try:
        if not TaskRun.objects.filter(task=task_name).update(**changes):
            TaskRun.objects.get_or_create(task=task_name)
            TaskRun.objects.filter(task=task_name).update(**changes)
    except DatabaseError:
        logger.warning("Could not record the run of task %s", task_name, exc_info=True)


def _duration(task: Any) -> float | None:
    started = getattr(task.request, _STARTED, None)
    return time.monotonic() - started if started is not None else None


@task_success.connect(dispatch_uid="ops.task_success")
def _task_succeeded(sender: Any = None, **kwargs: Any) -> None:
    if _should_record(sender):
        record_run(sender.name, success=True, duration=_duration(sender))


@task_failure.connect(dispatch_uid="ops.task_failure")
def _task_failed(sender: Any = None, **kwargs: Any) -> None:
    if _should_record(sender):
        record_run(sender.name, success=False, duration=_duration(sender))
