"""`manage.py drain_outbox`: publish the tasks kept while the broker was down."""

from django.core.management.base import BaseCommand

from portal import outbox


class Command(BaseCommand):
    help = "Publish the Celery tasks kept in the outbox while the broker was unreachable."

    def handle(self, *args, **options) -> None:
        sent = outbox.drain()
        self.stdout.write(f"{sent} published, {outbox.pending_count()} pending")
