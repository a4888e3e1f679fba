"""Run the daily renewal-alert scan by hand, synchronously, and print what is (or would be) sent."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from notifications.digests import digests_send
from notifications.models import Channel
from notifications.scan import alert_scan
from notifications.webhooks.delivery import delivery_attempt


class Command(BaseCommand):
    help = (
        "Scan certificates for due renewal alerts, send the e-mail digests and webhook "
        "deliveries in this process (no Celery). --dry-run only prints what would be sent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Write and send nothing.")
        parser.add_argument("--date", help="Scan as if today were YYYY-MM-DD (local date).")
        parser.add_argument("--editor", type=int, action="append", help="Only this editor id.")

    def handle(self, *args, dry_run: bool, date: str | None, editor: list[int] | None, **opts):
        today = None
        if date:
            try:
                today = _parse_date(date)
            except ValueError as exc:
                raise CommandError(f"--date: expected YYYY-MM-DD, got {date!r}") from exc
        report = alert_scan(today=today, dry_run=dry_run, editor_ids=editor, enqueue=False)
        verb = "would send" if dry_run else "sending"
        self.stdout.write(
            f"Scan of {report.today.isoformat()}: {report.certificates_due} certificate(s) due, "
            f"{len(report.to_send)} alert(s) {'to send' if dry_run else 'recorded'}."
        )
        for recipient, alerts in report.by_recipient(Channel.EMAIL).items():
            self.stdout.write(f"  {verb} 1 digest to {recipient}: {len(alerts)} alert(s)")
            for alert in alerts:
                self.stdout.write("    " + _describe(alert, recipient))
        for recipient, alerts in report.by_recipient(Channel.WEBHOOK).items():
            self.stdout.write(f"  {verb} {len(alerts)} webhook event(s) to {recipient}")
        if dry_run:
            return
        sent = [o for o in digests_send(report.digest_ids) if o.status == "sent"]
        self.stdout.write(f"Digests sent: {len(sent)} ({sum(o.count for o in sent)} alerts).")
        outcomes: dict[str, int] = {}
        for delivery_id in report.delivery_ids:
            outcome = delivery_attempt(delivery_id=delivery_id).outcome
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcomes:
            summary = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
            self.stdout.write(f"Webhook deliveries: {summary} (retries run with the worker).")


def _parse_date(value: str) -> date:
    return date.fromisoformat(value)


def _describe(alert, recipient: str) -> str:
    """One planned alert: FINESS, CN, profile, threshold, recipient (and why, if no one else)."""
    certificate = alert.certificate
    threshold = f"J{alert.threshold:+d}" if alert.threshold else "J0"
    fallback = "  [no recipient: editor admin]" if getattr(alert, "no_recipient", False) else ""
    return (
        f"FINESS {certificate.officine.finess}  CN {certificate.common_name}  "
        f"profile {certificate.profile}  threshold {threshold} ({alert.kind}, "
        f"{alert.days_left}d, until {certificate.usable_until:%Y-%m-%d})  "
        f"-> {recipient}{fallback}"
    )
