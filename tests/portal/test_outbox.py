"""A dead broker never breaks a request: the task waits in the outbox and is sent later."""

import pytest
from django.db import transaction

from portal import outbox
from portal.celery import app
from portal.models import OutboxMessage

pytestmark = pytest.mark.django_db


def use_broker(url: str, *, eager: bool) -> None:
    app.conf.broker_url = url
    app.conf.task_always_eager = eager
    # Forget cached pools so the next publish connects to the new URL.
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def dead_broker():
    """Point Celery at a closed port for real (no mock): publishing must fail fast."""
    previous = (app.conf.broker_url, app.conf.task_always_eager)
    use_broker("redis://127.0.0.1:1/0", eager=False)
    outbox._broker_down_until = 0.0
    yield
    outbox._broker_down_until = 0.0
    use_broker(previous[0], eager=previous[1])


def test_task_is_kept_when_the_broker_is_down_then_drained(
    dead_broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox.enqueue("portal.tasks.ping")
    message = OutboxMessage.objects.get()
    assert message.sent_at is None
    assert message.attempts == 1
    assert "portal.tasks.ping" not in message.last_error  # a broker error, not a missing task
    assert outbox.drain() == 0  # still down: nothing lost, nothing sent

    use_broker("memory://", eager=True)
    assert outbox.drain() == 1, OutboxMessage.objects.get().last_error
    message.refresh_from_db()
    assert message.sent_at is not None
    assert outbox.pending_count() == 0


def test_rolled_back_work_enqueues_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                outbox.enqueue("portal.tasks.ping")
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    assert not OutboxMessage.objects.exists()
