"""Calendar feeds: RFC 5545 text written by hand (escaping, folding), one event per live
certificate with two alarms, behind a secret URL an admin can regenerate or revoke."""

import re

import pytest
from django.utils import timezone

from notifications.calendar import escape_text, feed_create, feed_revoke, fold, render_calendar
from notifications.models import CalendarFeed
from tests.helpers.notifications import expiring_in

pytestmark = pytest.mark.django_db


def unfold(text: str) -> list[str]:
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")  # CRLF only
    return text.replace("\r\n ", "").split("\r\n")[:-1]


def events(text: str) -> list[dict[str, str]]:
    found, current, depth = [], None, 0
    for line in unfold(text):
        if line == "BEGIN:VEVENT":
            current, depth = {"alarms": []}, 0
        elif line == "BEGIN:VALARM":
            depth = 1
            current["alarms"].append({})
        elif line == "END:VALARM":
            depth = 0
        elif line == "END:VEVENT":
            found.append(current)
            current = None
        elif current is not None:
            name, _, value = line.partition(":")
            (current["alarms"][-1] if depth else current)[name] = value
    return found


def test_escape_text():
    assert escape_text("a;b,c\\d\ne") == "a\\;b\\,c\\\\d\\ne"
    assert escape_text("x\r\ny") == "x\\ny"


def test_fold_at_75_octets_without_splitting_characters():
    line = "DESCRIPTION:" + "é" * 100 + "abc"
    folded = fold(line)
    physical = folded.split("\r\n")
    assert all(len(p.encode("utf-8")) <= 75 for p in physical)
    assert all(p.startswith(" ") for p in physical[1:])
    assert folded.replace("\r\n ", "") == line
    for p in physical:
        p.encode("utf-8").decode("utf-8")  # each physical line is valid UTF-8 on its own
    assert fold("SHORT:1") == "SHORT:1"


def test_calendar_of_an_officine(cert_in, tenant_a):
    officine = tenant_a.officine
    officine.raison_sociale = "PHARMACIE DU PONT; DES ARTS, CENTRE"
    officine.save()
    live = cert_in(40, common_name="INSI-AUTO", services=["INSI"])
    cert_in(400, common_name="REVOKED", revoked_at=timezone.now())
    cert_in(20, common_name="OLD", superseded_at=timezone.now())
    other_officine = cert_in(60, officine=tenant_a.pharmacist_officine, common_name="OTHER")
    feed, _token = feed_create(editor=tenant_a.editor, officine=officine)
    from notifications.calendar import feed_render

    text = feed_render(feed, now=timezone.now())
    lines = unfold(text)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines and any(line.startswith("PRODID:") for line in lines)
    [event] = events(text)
    day = timezone.localdate(live.not_after)
    assert event["UID"] == f"certificate-{live.pk}-expiry@127.0.0.1"
    assert event["DTSTART;VALUE=DATE"] == day.strftime("%Y%m%d")
    assert re.fullmatch(r"\d{8}T\d{6}Z", event["DTSTAMP"])
    assert "PHARMACIE DU PONT\\; DES ARTS\\, CENTRE" in event["SUMMARY"]
    assert "INSI-AUTO" in event["SUMMARY"]
    assert "\\n" in event["DESCRIPTION"] and event["URL"].endswith(f"/certificates/{live.pk}/")
    assert [a["TRIGGER"] for a in event["alarms"]] == ["-P30D", "-P7D"]
    assert all(a["ACTION"] == "DISPLAY" and a["DESCRIPTION"] for a in event["alarms"])
    assert all(len(p.encode()) <= 75 for p in text.split("\r\n"))
    assert "OTHER" not in text and str(other_officine.pk) not in event["UID"]


def test_feed_url_regenerate_revoke_and_isolation(
    cert_in, tenant_a, tenant_b, make_certificate, client
):
    mine = cert_in(40, common_name="MINE")
    make_certificate(tenant_b.officine, common_name="FOREIGN", not_after=expiring_in(40))
    _feed, token = feed_create(editor=tenant_a.editor, language="en")
    url = f"/notifications/calendar/{token}.ics"
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    body = response.content.decode()
    assert "MINE" in body and "FOREIGN" not in body
    assert f"certificate-{mine.pk}-expiry" in body
    assert "Certificate expiry: MINE" in body  # the feed's language
    assert CalendarFeed.objects.get().token_hash not in body and token not in body
    # Regenerating revokes the old URL.
    _feed2, token2 = feed_create(editor=tenant_a.editor)
    assert client.get(url).status_code == 404
    assert client.get(f"/notifications/calendar/{token2}.ics").status_code == 200
    feed_revoke(feed=CalendarFeed.objects.get(revoked_at__isnull=True))
    assert client.get(f"/notifications/calendar/{token2}.ics").status_code == 404
    assert client.get("/notifications/calendar/not-a-token.ics").status_code == 404


def test_officine_of_another_editor_is_refused(tenant_a, tenant_b):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        feed_create(editor=tenant_a.editor, officine=tenant_b.officine)


def test_empty_calendar_is_valid():
    text = render_calendar([], name="Vide")
    assert unfold(text) == [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Portail certificats officines//Renewal calendar//FR",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Vide",
        "REFRESH-INTERVAL;VALUE=DURATION:PT12H",
        "X-PUBLISHED-TTL:PT12H",
        "END:VCALENDAR",
    ]
