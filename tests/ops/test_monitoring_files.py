"""The alerting rules and the Grafana dashboard in ops/ are valid and read only what the
portal exports: every PromQL expression is parsed (promql-parser, a port of Prometheus's own
parser: promtool is not pip-installable), every metric it selects and every label it matches
on must appear in a real /metrics scrape."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import promql_parser
import pytest
import yaml
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from certificates.models import RenewalCampaign
from notifications.models import AlertLog, AlertStatus, Channel, WebhookEndpoint
from portal.tasks import ping

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "ops" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "portal-dashboard.json"
DURATION = re.compile(r"^\d+[smhdwy]$")
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
    "summary": ("", "_count", "_sum"),
    "info": ("_info",),
    "unknown": ("",),
}
# Labels Prometheus adds itself, and the histogram bucket label.
BUILTIN_LABELS = {"job", "instance", "le", "__name__"}


@pytest.fixture
def exported(settings, tenant_a, make_certificate) -> dict[str, set[str]]:
    """Series name -> label names, from a real scrape with some data in every family."""
    settings.METRICS_TOKEN = "monitoring-files"
    now = timezone.now()
    certificate = make_certificate(tenant_a.officine, not_after=now + timedelta(days=5))
    AlertLog.objects.create(
        certificate=certificate,
        threshold=7,
        recipient="admin@a.fr",
        channel=Channel.EMAIL,
        status=AlertStatus.FAILED,
        days_left=5,
        scan_date=now.date(),
    )
    RenewalCampaign.objects.create(
        editor=tenant_a.editor, name="Q1", requester_email="ops@a.fr", total=3
    )
    WebhookEndpoint.objects.create(editor=tenant_a.editor, url="https://lgo.example/h")
    ping.apply()
    Client().get("/accounts/login/")  # request metrics
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer monitoring-files")
    assert response.status_code == 200
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for suffix in SUFFIXES[family.type]:
            names.setdefault(family.name + suffix, set())
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def selectors(node) -> list:
    """Every VectorSelector of a parsed expression."""
    if node is None:
        return []
    if type(node).__name__ == "VectorSelector":
        return [node]
    found = []
    for attribute in ("lhs", "rhs", "expr", "param", "vector_selector"):
        found += selectors(getattr(node, attribute, None))
    for argument in getattr(node, "args", None) or []:
        found += selectors(argument)
    return found


def grouping_labels(node) -> set[str]:
    """Labels named in by/without (aggregations), on/ignoring and group_left/right (binary
    operations)."""
    if node is None or type(node).__name__ in ("VectorSelector", "NumberLiteral"):
        return set()
    labels: set[str] = set()
    modifier = getattr(node, "modifier", None)
    if modifier is not None:
        labels |= set(getattr(modifier, "labels", None) or [])  # by / without
        matching = getattr(modifier, "matching", None)
        labels |= set(getattr(matching, "labels", None) or [])  # on / ignoring
        labels |= set(getattr(modifier, "group_labels", None) or [])  # group_left (...)
    for attribute in ("lhs", "rhs", "expr", "param"):
        labels |= grouping_labels(getattr(node, attribute, None))
    for argument in getattr(node, "args", None) or []:
        labels |= grouping_labels(argument)
    return labels


def check_expression(expr: str, exported: dict[str, set[str]], where: str) -> None:
    try:
        parsed = promql_parser.parse(expr)
    except ValueError as exc:
        pytest.fail(f"{where}: invalid PromQL ({exc}): {expr}")
    found = selectors(parsed)
    assert found, f"{where}: selects no metric: {expr}"
    all_labels = set().union(*exported.values()) | BUILTIN_LABELS
    for selector in found:
        assert selector.name in exported, f"{where}: {selector.name} is not exported"
        for matcher in selector.matchers.matchers:
            assert matcher.name in exported[selector.name] | BUILTIN_LABELS, (
                f"{where}: {selector.name} has no label {matcher.name}"
            )
    unknown = grouping_labels(parsed) - all_labels
    assert not unknown, f"{where}: groups or joins on labels nobody exports: {unknown}"


def test_alert_rules(exported):
    document = yaml.safe_load(ALERTS.read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "duplicate alert names"
    for group in document["groups"]:
        assert group["name"] and group["rules"]
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["annotations"]["summary"]
        if "for" in rule:
            assert DURATION.match(rule["for"]), rule["for"]
        check_expression(rule["expr"], exported, rule["alert"])
    # The four alerts, on the metrics that carry them.
    required = {
        "PortalCertificatesExpiringWithoutRenewal": "portal_certificates_expiring_without_renewal",
        "PortalBeatTaskNotRun": "portal_beat_task_last_success_timestamp_seconds",
        "PortalOutboxBacklogGrowing": "portal_outbox_pending_messages",
        "PortalWebhookEndpointDisabled": "portal_webhook_endpoints",
    }
    by_name = {rule["alert"]: rule for rule in rules}
    for alert, metric in required.items():
        assert metric in by_name[alert]["expr"], alert
    assert "26 * 3600" in by_name["PortalBeatTaskNotRun"]["expr"]


def test_a_broken_expression_is_caught(exported):
    with pytest.raises(pytest.fail.Exception, match="invalid PromQL"):
        check_expression("sum(rate(portal_task_failures_total[5m])", exported, "broken")
    with pytest.raises(AssertionError, match="not exported"):
        check_expression("portal_no_such_metric > 0", exported, "unknown")
    with pytest.raises(AssertionError, match="has no label"):
        check_expression('portal_outbox_pending_messages{editor_id="1"}', exported, "label")


def test_grafana_dashboard(exported):
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    ids, cells = set(), set()
    for panel in dashboard["panels"]:
        assert panel["id"] not in ids
        ids.add(panel["id"])
        assert panel["type"] in {"stat", "timeseries", "bargauge", "table", "gauge", "row"}
        assert panel["datasource"]["uid"] == "${datasource}"
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        for cell in {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                     for y in range(grid["y"], grid["y"] + grid["h"])}:  # fmt: skip
            assert cell not in cells, f"panel {panel['title']} overlaps another"
            cells.add(cell)
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            check_expression(target["expr"], exported, f"panel {panel['title']!r}")
    used = {s.name for p in dashboard["panels"] for t in p["targets"]
            for s in selectors(promql_parser.parse(t["expr"]))}  # fmt: skip
    assert "portal_certificates" in used and "portal_http_request_duration_seconds_bucket" in used
