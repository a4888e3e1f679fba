"""Key store helpers: fresh wrapping keys, their ids, and the rotation command."""

from __future__ import annotations

import base64
import hashlib
import os
from io import StringIO

from django.core.management import call_command


def new_wrapping_key() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


def key_id(value: str) -> str:
    return hashlib.sha256(base64.b64decode(value)).hexdigest()[:8]


def run_rotation(*args: str) -> str:
    out = StringIO()
    call_command("rotate_key_encryption", *args, stdout=out)
    return out.getvalue()
