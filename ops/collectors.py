"""Business metrics computed at scrape time from the database and the broker.

A custom prometheus-client collector: nothing is kept in the web process, every scrape reads
the current truth (any worker process answers the same), with a handful of aggregate
queries. Labels are bounded: editor id, status, service, channel, task name, queue; never
a certificate or an officine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from certificates import stats as certificate_stats
from notifications import stats as notification_stats
from ops.models import TaskRun
from portal.celery import app
from portal.models import Editor, OutboxMessage

logger = logging.getLogger(__name__)

RECENT = timedelta(hours=24)
# kombu's Redis transport keeps priorities 3, 6 and 9 in sibling lists "<queue>\x06\x16<n>".
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


def _ts(value) -> float:
    return value.timestamp() if value is not None else 0.0


class BusinessCollector(Collector):
    """Everything an operator watches that is not a request: certificates, alerts,
    webhooks, outbox, Celery, beat tasks, campaigns."""

    def describe(self) -> list[Metric]:
        return []  # registration must not query the database

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        now = timezone.now()
        yield from self._editors()
        yield from self._certificates(now)
        yield from self._campaigns()
        yield from self._alerts(now)
        yield from self._webhooks(now)
        yield from self._outbox(now)
        yield from self._tasks()
        yield from self._queues()
        duration = GaugeMetricFamily(
            "portal_metrics_collect_seconds", "Time spent computing the business metrics."
        )
        duration.add_metric([], time.perf_counter() - started)
        yield duration

    # ------------------------------------------------------------------ domain

    def _editors(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "portal_editor_info",
            "One per editor: join editor_id labels to the editor's name.",
            labels=["editor_id", "editor", "active"],
        )
        for pk, name, active in Editor.objects.values_list("pk", "name", "is_active"):
            info.add_metric([str(pk), name, "1" if active else "0"], 1)
        yield info

    def _certificates(self, now) -> Iterator[Metric]:
        overview = certificate_stats.certificate_overview(now)
        counts = GaugeMetricFamily(
            "portal_certificates",
            "Certificates per editor and derived status.",
            labels=["editor_id", "status"],
        )
        for editor_id, per_status in sorted(overview.counts.items()):
            for status, n in per_status.items():
                counts.add_metric([str(editor_id), status], n)
        yield counts
        earliest = GaugeMetricFamily(
            "portal_certificate_earliest_usable_until_timestamp_seconds",
            "Per editor and service, when the first live certificate still usable stops "
            "being usable (Unix time).",
            labels=["editor_id", "service"],
        )
        for editor_id, per_service in sorted(overview.earliest.items()):
            for service, until in sorted(per_service.items()):
                earliest.add_metric([str(editor_id), service], until.timestamp())
        yield earliest
        unplanned = GaugeMetricFamily(
            "portal_certificates_expiring_without_renewal",
            "Live certificates expiring within 30 days with no open renewal request and no "
            "pending or running campaign.",
            labels=["editor_id"],
        )
        for editor_id, n in certificate_stats.expiring_without_renewal(now).items():
            unplanned.add_metric([str(editor_id)], n)
        yield unplanned

    def _campaigns(self) -> Iterator[Metric]:
        campaigns = GaugeMetricFamily(
            "portal_campaigns",
            "Renewal campaigns per editor and status.",
            labels=["editor_id", "status"],
        )
        total = GaugeMetricFamily(
            "portal_campaign_certificates",
            "Certificates selected by the renewal campaigns per editor and campaign status.",
            labels=["editor_id", "status"],
        )
        completed = GaugeMetricFamily(
            "portal_campaign_certificates_completed",
            "Certificates already prepared by the renewal campaigns per editor and status.",
            labels=["editor_id", "status"],
        )
        for row in certificate_stats.campaigns_per_editor_status():
            labels = [str(row["editor_id"]), row["status"]]
            campaigns.add_metric(labels, row["campaigns"])
            total.add_metric(labels, row["total"] or 0)
            completed.add_metric(labels, row["completed"] or 0)
        yield from (campaigns, total, completed)

    def _alerts(self, now) -> Iterator[Metric]:
        recent = GaugeMetricFamily(
            "portal_alerts_last_24h",
            "Renewal alerts written in the last 24 hours, per channel and outcome.",
            labels=["channel", "status"],
        )
        for channel, status, n in notification_stats.alerts_since(now - RECENT):
            recent.add_metric([channel, status], n)
        yield recent
        pending = GaugeMetricFamily(
            "portal_alerts_pending",
            "Renewal alerts waiting to be delivered, per channel.",
            labels=["channel"],
        )
        for channel, n in notification_stats.alerts_pending():
            pending.add_metric([channel], n)
        yield pending

    def _webhooks(self, now) -> Iterator[Metric]:
        recent = GaugeMetricFamily(
            "portal_webhook_deliveries_last_24h",
            "Webhook deliveries created in the last 24 hours, per outcome.",
            labels=["status"],
        )
        for status, n in notification_stats.webhook_deliveries_since(now - RECENT):
            recent.add_metric([status], n)
        yield recent
        pending = GaugeMetricFamily(
            "portal_webhook_deliveries_pending", "Webhook deliveries not delivered yet."
        )
        pending.add_metric([], notification_stats.webhook_deliveries_pending())
        yield pending
        endpoints = GaugeMetricFamily(
            "portal_webhook_endpoints",
            "Webhook endpoints per editor and state (active, disabled by hand, "
            "disabled_failing: disabled by the portal after consecutive failures).",
            labels=["editor_id", "state"],
        )
        for editor_id, state, n in notification_stats.webhook_endpoints_per_editor():
            endpoints.add_metric([str(editor_id), state], n)
        yield endpoints

    # ------------------------------------------------------------------ plumbing

    def _outbox(self, now) -> Iterator[Metric]:
        backlog = OutboxMessage.objects.filter(sent_at__isnull=True).aggregate(
            oldest=Min("created_at"), n=Count("id")
        )
        pending = GaugeMetricFamily(
            "portal_outbox_pending_messages", "Tasks recorded but not yet published to the broker."
        )
        pending.add_metric([], backlog["n"])
        yield pending
        oldest = GaugeMetricFamily(
            "portal_outbox_oldest_pending_age_seconds",
            "Age of the oldest unpublished outbox message (0 when none).",
        )
        age = (now - backlog["oldest"]).total_seconds() if backlog["oldest"] else 0.0
        oldest.add_metric([], max(age, 0.0))
        yield oldest

    def _tasks(self) -> Iterator[Metric]:
        runs = {run.task: run for run in TaskRun.objects.all()}
        successes = CounterMetricFamily(
            "portal_task_successes", "Celery task runs that succeeded, per task.", labels=["task"]
        )
        failures = CounterMetricFamily(
            "portal_task_failures", "Celery task runs that raised, per task.", labels=["task"]
        )
        last_success = GaugeMetricFamily(
            "portal_task_last_success_timestamp_seconds",
            "When each task last succeeded (Unix time).",
            labels=["task"],
        )
        last_failure = GaugeMetricFamily(
            "portal_task_last_failure_timestamp_seconds",
            "When each task last failed (Unix time, 0 when never).",
            labels=["task"],
        )
        for name, run in runs.items():
            successes.add_metric([name], run.successes)
            failures.add_metric([name], run.failures)
            if run.last_success_at:
                last_success.add_metric([name], _ts(run.last_success_at))
            last_failure.add_metric([name], _ts(run.last_failure_at))
        yield from (successes, failures, last_success, last_failure)
        beat = GaugeMetricFamily(
            "portal_beat_task_last_success_timestamp_seconds",
            "Per scheduled (beat) task, its last success (Unix time; 0 when it never succeeded).",
            labels=["task"],
        )
        for task in sorted(beat_tasks()):
            run = runs.get(task)
            beat.add_metric([task], _ts(run.last_success_at) if run else 0.0)
        yield beat

    def _queues(self) -> Iterator[Metric]:
        length = GaugeMetricFamily(
            "portal_celery_queue_length",
            "Messages waiting in the broker, per Celery queue.",
            labels=["queue"],
        )
        up = GaugeMetricFamily("portal_celery_broker_up", "1 when the broker answered.")
        try:
            for queue, n in queue_lengths().items():
                length.add_metric([queue], n)
            up.add_metric([], 1)
        except Exception as exc:  # the broker being down is a metric, not a failed scrape
            logger.warning("Broker unreachable while collecting metrics: %s", type(exc).__name__)
            up.add_metric([], 0)
        yield from (length, up)


def beat_tasks() -> set[str]:
    """Task names of the beat schedule: the settings' entries and enabled database ones."""
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    try:
        from django_celery_beat.models import PeriodicTask

        names |= set(
            PeriodicTask.objects.filter(enabled=True)
            .exclude(task__startswith="celery.")
            .values_list("task", flat=True)
        )
    except LookupError:  # django_celery_beat not installed
        pass
    return names


def queue_names() -> list[str]:
    names = {app.conf.task_default_queue or "celery"}
    names |= {q.name for q in (app.conf.task_queues or [])}
    return sorted(names)


def queue_lengths() -> dict[str, int]:
    """Queue -> waiting messages: LLEN on Redis, files in the folder of the filesystem
    broker. Raises when the broker cannot be reached."""
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        client = redis_client(url)
        pipe = client.pipeline(transaction=False)
        names = queue_names()
        for name in names:
            pipe.llen(name)
            for step in _PRIORITY_STEPS:
                pipe.llen(f"{name}{_PRIORITY_SEPARATOR}{step}")
        values = pipe.execute()
        per_queue = 1 + len(_PRIORITY_STEPS)
        return {
            name: sum(values[i * per_queue : (i + 1) * per_queue]) for i, name in enumerate(names)
        }
    if url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        # One file per message, named "<timestamp>_<uuid>.<queue>.msg".
        counts = dict.fromkeys(queue_names(), 0)
        for entry in folder.iterdir():
            parts = entry.name.rsplit(".", 2)
            if len(parts) == 3 and parts[2] == "msg" and parts[1] in counts:
                counts[parts[1]] += 1
        return counts
    return {}


_redis_clients: dict[str, object] = {}


def redis_client(url: str):
    """One pooled client per URL, with short timeouts: a dead Redis answers in ~1 s."""
    client = _redis_clients.get(url)
    if client is None:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        _redis_clients[url] = client
    return client
