"""Operations records: the last success and failure of every Celery task, by task name."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class TaskRun(models.Model):
    """One row per task name (bounded: the portal's own tasks), updated by Celery signals
    (ops.tasksignals) after every run in a worker, so any task, beat or not, is covered
    without code of its own; /metrics reads it (beat task freshness, task failures)."""

    task = models.CharField(_("task"), max_length=200, unique=True)
    successes = models.PositiveBigIntegerField(_("successes"), default=0)
    failures = models.PositiveBigIntegerField(_("failures"), default=0)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_failure_at = models.DateTimeField(_("last failure"), null=True, blank=True)
    last_duration = models.FloatField(_("last duration (s)"), null=True, blank=True)

    class Meta:
        verbose_name = _("task run")
        verbose_name_plural = _("task runs")
        ordering = ["task"]

    def __str__(self) -> str:
        return self.task
