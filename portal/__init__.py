"""The kernel and project package; exposes the Celery app so `celery -A portal` finds it."""

from portal.celery import app as celery_app

__all__ = ("celery_app",)
