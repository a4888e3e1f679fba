"""Calendar feed tokens stay out of logs; the token can travel in a header instead of the URL.

A feed's URL is its secret: Django logged it on every 404 ("Not Found: /notifications/
calendar/<token>.ics") and so would an access log (issue 12, finding 13).
"""

from __future__ import annotations

import base64
import io
import logging

import pytest

from notifications.calendar import feed_create, feed_revoke
from notifications.models import CalendarFeed
from portal.log_redaction import RedactSecretsFilter
from tests.helpers.notifications import expiring_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_output():
    """What the portal's configured console handler (LOGGING) writes, captured."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RedactSecretsFilter) for f in h.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_feed_tokens_are_redacted_from_logs(tenant_a, client, log_output):
    _feed, token = feed_create(editor=tenant_a.editor)
    feed_revoke(feed=CalendarFeed.objects.get())
    assert client.get(f"/notifications/calendar/{token}.ics").status_code == 404
    logging.getLogger("portal.test").warning("fetching %s", f"/notifications/calendar/{token}.ics")
    logging.getLogger("portal.test").warning(f"GET /notifications/calendar/{token}.ics 404")
    written = log_output.getvalue()
    assert "Not Found: /notifications/calendar/[redacted].ics" in written
    assert written.count("[redacted]") == 3
    assert token not in written


def test_the_token_in_a_header(tenant_a, make_certificate, client):
    make_certificate(tenant_a.officine, common_name="MINE", not_after=expiring_in(40))
    _feed, token = feed_create(editor=tenant_a.editor)
    url = "/notifications/calendar/feed.ics"
    bearer = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert bearer.status_code == 200 and "MINE" in bearer.content.decode()
    assert "Authorization" in bearer["Vary"]
    basic = base64.b64encode(f"agenda:{token}".encode()).decode()
    assert client.get(url, HTTP_AUTHORIZATION=f"Basic {basic}").status_code == 200
    refused = client.get(url)
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Basic")
    assert client.get(url, HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 401
    assert client.get(url, HTTP_AUTHORIZATION="Basic %%%").status_code == 401
    feed_revoke(feed=CalendarFeed.objects.get())
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_the_page_offers_the_token_less_address_with_the_new_link(tenant_a, client_for):
    from django.urls import reverse

    admin = client_for(tenant_a.admin)
    admin.post(reverse("notifications:calendar_create"), {"finess": "", "language": "fr"})
    page = admin.get(reverse("notifications:settings")).content.decode()
    assert "/notifications/calendar/feed.ics" in page and "mot de passe" in page
