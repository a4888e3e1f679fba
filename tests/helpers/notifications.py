"""Notification test helpers: the fixed today, expiries relative to it, a local webhook receiver."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.utils import timezone

TODAY = date(2027, 1, 4)


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


def expiring_in(days: int, *, hour: int = 12, today: date = TODAY) -> datetime:
    """A not_after `days` calendar days after `today`, at `hour` local time (Europe/Paris)."""
    return timezone.make_aware(datetime.combine(today + timedelta(days=days), time_of_day(hour)))


class Receiver:
    """A real HTTP server in a thread that checks signatures as an LGO would."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.redirect = False
        self.secret = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                timestamp = self.headers["X-Portal-Timestamp"]
                # Recomputed from the documentation only: HMAC-SHA256(secret, f"{ts}.{body}").
                expected = hmac.new(
                    receiver.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                receiver.requests.append(
                    {
                        "headers": dict(self.headers),
                        "body": body,
                        "valid": hmac.compare_digest(
                            self.headers["X-Portal-Signature"], f"v1={expected}"
                        ),
                        "fresh": abs(time.time() - int(timestamp)) < 300,
                    }
                )
                if receiver.redirect:
                    self.send_response(302)
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                else:
                    self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/portal"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
