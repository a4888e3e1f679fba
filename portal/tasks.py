"""Kernel Celery tasks: draining the outbox and housekeeping."""

from celery import shared_task

from portal import outbox


@shared_task(acks_late=True)
def drain_outbox() -> int:
    """Publish tasks recorded while the broker was unreachable."""
    return outbox.drain()


@shared_task(acks_late=True)
def ping() -> str:
    """A no-op used by tests and health checks."""
    return "pong"
