"""Structured logs: X-Request-ID on every response, one JSON object per line with the ids of
the request (user, editor, API key prefix) or task, and the request id inside the tasks a
request enqueues (eager here; a real worker in tests/reliability/test_request_id_worker.py)."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery import shared_task
from django.test import Client
from django.urls import reverse

from ops.requestid import HEADER
from portal import outbox
from portal.api.keys import api_key_create
from portal.logcontext import ContextFilter, JsonFormatter, request_id_var, task_id_var

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SEEN: list[dict] = []


@shared_task
def remember_context() -> None:
    SEEN.append({"request_id": request_id_var.get(), "task_id": task_id_var.get()})


@pytest.fixture
def json_lines():
    """Lines written through the real formatter and filter on the django.request logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_every_response_has_a_request_id():
    first, second = Client().get("/healthz/live"), Client().get("/accounts/login/")
    assert first[HEADER] != second[HEADER]
    assert len(second[HEADER]) == 32


def test_a_well_formed_incoming_id_is_kept_a_bad_one_replaced():
    kept = Client().get("/accounts/login/", HTTP_X_REQUEST_ID="proxy-1234abcd.5678")
    assert kept[HEADER] == "proxy-1234abcd.5678"
    for bad in ("short", "has space inside it", "x" * 200, "inject\nFake: header"):
        response = Client().get("/accounts/login/", HTTP_X_REQUEST_ID=bad)
        assert response[HEADER] != bad and len(response[HEADER]) == 32


def test_json_line_of_a_session_user(json_lines, tenant_a, client_for):
    client = client_for(tenant_a.viewer)
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="req-session-0001")
    assert response.status_code == 404
    (line,) = json_lines()
    assert line["level"] == "WARNING"
    assert line["logger"] == "django.request"
    assert line["message"] == "Not Found: /no-such-page/"
    assert line["request_id"] == "req-session-0001"
    assert line["user_id"] == tenant_a.viewer.pk
    assert "api_key_prefix" not in line


def test_json_line_of_a_session_user_carries_the_editor(json_lines, tenant_a, tenant_b, client_for):
    """A foreign officine is a 404; the line names the caller's user and editor."""
    client = client_for(tenant_a.operator)
    url = reverse("officines:detail", args=[tenant_b.officine.pk])
    assert client.get(url, HTTP_X_REQUEST_ID="req-foreign-0005").status_code == 404
    line = json_lines()[-1]
    assert line["request_id"] == "req-foreign-0005"
    assert line["user_id"] == tenant_a.operator.pk
    assert line["editor_id"] == tenant_a.editor.pk


def test_json_line_of_an_api_key_has_its_prefix_never_the_key(json_lines, tenant_a):
    key, raw = api_key_create(editor=tenant_a.editor, name="LGO", scopes=["read"], actor=None)
    response = Client().get(
        "/api/v1/officines/999999999/",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
        HTTP_X_REQUEST_ID="req-api-key-0002",
    )
    assert response.status_code == 404
    lines = json_lines()
    assert lines, "the 404 was not logged"
    line = lines[-1]
    assert line["request_id"] == "req-api-key-0002"
    assert line["api_key_prefix"] == key.prefix
    assert line["editor_id"] == tenant_a.editor.pk
    assert raw not in json.dumps(lines)


def test_exception_is_one_json_line():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("tests.ops.json")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("bad\nthing")
        except ValueError:
            logger.exception("failed", extra={"officine_id": 42})
    finally:
        logger.removeHandler(handler)
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["message"] == "failed" and entry["officine_id"] == 42
    assert "ValueError: bad" in entry["error"]


def test_log_format_json_setting_configures_the_root_logger():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(LOG_FORMAT="json", DJANGO_SETTINGS_MODULE="portal.settings")
    script = (
        "import django, logging; django.setup(); "
        "logging.getLogger('portal.check').warning('hello %s', 'json')"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    (line,) = [json.loads(x) for x in out.stderr.splitlines() if x.startswith("{")]
    assert line["message"] == "hello json" and line["logger"] == "portal.check"


def test_request_id_reaches_the_task_through_the_outbox(django_capture_on_commit_callbacks):
    SEEN.clear()
    token = request_id_var.set("req-outbox-0003")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            message = outbox.enqueue("tests.ops.test_logging.remember_context")
    finally:
        request_id_var.reset(token)
    assert message.request_id == "req-outbox-0003"
    assert SEEN and SEEN[0]["request_id"] == "req-outbox-0003" and SEEN[0]["task_id"]


def test_request_id_survives_a_later_drain():
    """Published by drain() with no request around: the stored id goes in the headers."""
    SEEN.clear()
    token = request_id_var.set("req-drained-0004")
    try:
        outbox.enqueue("tests.ops.test_logging.remember_context")  # no commit here: stays pending
    finally:
        request_id_var.reset(token)
    assert request_id_var.get() == ""
    assert outbox.drain() == 1
    assert SEEN[-1]["request_id"] == "req-drained-0004"
    assert request_id_var.get() == "" and task_id_var.get() == ""  # reset after the task
