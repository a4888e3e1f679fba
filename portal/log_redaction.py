"""A logging filter that keeps secrets carried in URLs (calendar feed tokens) out of the logs.

Calendar applications only know a URL, so a feed's token is in its path; Django logs that
path on a 404 ("Not Found: /notifications/calendar/<token>.ics"), and so would any access
log. Installed on every handler of LOGGING, it rewrites the message and its arguments.
"""

from __future__ import annotations

import logging
import re

_SECRET_PATHS = re.compile(r"(/calendar/)[^/\s\"'?]+(\.ics)")
REDACTED = r"\1[redacted]\2"


def redact(text: str) -> str:
    return _SECRET_PATHS.sub(REDACTED, text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        request = getattr(record, "request", None)
        if request is not None and "/calendar/" in getattr(request, "path", ""):
            record.request = None  # formatters that print the request get nothing to leak
        return True
