"""A real worker logs the request id of the request that enqueued its task (JSON lines), also
when the outbox publishes the message later, and records the run in ops.TaskRun."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from ops.models import TaskRun
from portal import outbox
from portal.logcontext import request_id_var
from tests.helpers.tools import requires_postgres
from tests.helpers.workers import wait_for

pytestmark = [requires_postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def json_lines(worker) -> list[dict]:
    lines = []
    for path in worker.logs:
        for line in path.read_text().splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
    return lines


def succeeded_with(worker, request_id: str) -> list[dict]:
    return [
        line
        for line in json_lines(worker)
        if line.get("request_id") == request_id and "succeeded" in line["message"]
    ]


def test_request_id_in_worker_logs_direct_and_drained(celery_on_redis, worker_factory):
    worker = worker_factory(LOG_FORMAT="json")
    worker.start()

    token = request_id_var.set("req-worker-direct-01")
    try:
        with transaction.atomic():
            outbox.enqueue("portal.tasks.ping")  # published on commit
    finally:
        request_id_var.reset(token)
    (line,) = wait_for(
        lambda: succeeded_with(worker, "req-worker-direct-01"),
        timeout=60,
        what="the worker's JSON line for the task",
        diagnostics=worker.tail,
    )
    assert line["logger"] == "celery.app.trace"
    assert line["task_id"] and line["task_id"] in line["message"]

    # Broker "down" at enqueue time: the message waits in the outbox, drain() sends it later
    # from a context without any request id.
    outbox._broker_down_until = float("inf")
    token = request_id_var.set("req-worker-drained-02")
    try:
        with transaction.atomic():
            message = outbox.enqueue("portal.tasks.ping")
    finally:
        request_id_var.reset(token)
        outbox._broker_down_until = 0.0
    assert outbox.pending_count() == 1 and message.request_id == "req-worker-drained-02"
    assert outbox.drain() == 1
    wait_for(
        lambda: succeeded_with(worker, "req-worker-drained-02"),
        timeout=60,
        what="the drained task's JSON line",
        diagnostics=worker.tail,
    )
    run = wait_for(
        lambda: TaskRun.objects.filter(task="portal.tasks.ping", successes__gte=2).first(),
        timeout=30,
        what="the worker's TaskRun record",
    )
    assert run.last_success_at is not None and run.failures == 0
