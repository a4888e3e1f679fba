"""API keys: creation, revocation and lookup.

A key is `lgo_` + 43 random URL-safe characters (256 bits). Only its SHA-256 is stored: the
key is looked up by hash, so no constant-time comparison is needed, and a database leak
gives nothing usable. The first 12 characters (`prefix`) stay visible so people can tell
keys apart in lists and audit logs.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.audit import audit_record
from portal.models import ApiKey, ApiScope, Editor

KEY_PREFIX = "lgo_"
PREFIX_LENGTH = len(KEY_PREFIX) + 8
# last_used_at is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


def normalize_scopes(scopes: Iterable[str] | str) -> list[str]:
    """Scopes as a sorted list of known values; "read,write" strings are accepted too."""
    if isinstance(scopes, str):
        scopes = scopes.split(",")
    cleaned = sorted({s.strip() for s in scopes if s and s.strip()})
    unknown = [s for s in cleaned if s not in ApiScope.values]
    if unknown:
        raise ValidationError(
            {"scopes": _("Unknown scope: %(s)s.") % {"s": ", ".join(unknown)}}, code="invalid"
        )
    if not cleaned:
        raise ValidationError({"scopes": _("Give at least one scope.")}, code="required")
    return cleaned


@transaction.atomic
def api_key_create(
    *,
    editor: Editor,
    name: str,
    scopes: Iterable[str] | str,
    officine: models.Model | None = None,  # an officines.Officine of this editor
    expires_at: datetime | None = None,
    actor: Any,
    request: HttpRequest | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with the raw secret, which is never stored nor shown again."""
    name = (name or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _("Give the key a name.")
    elif len(name) > 100:
        errors["name"] = _("A key name has at most 100 characters.")
    try:
        scope_list = normalize_scopes(scopes)
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
        scope_list = []
    if officine is not None and officine.editor_id != editor.pk:
        errors["officine"] = _("Unknown officine.")
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = _("The expiry date must be in the future.")
    if not editor.is_active:
        errors["editor"] = _("This editor is deactivated.")
    if errors:
        raise ValidationError(errors)
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        editor=editor,
        name=name,
        prefix=raw_key[:PREFIX_LENGTH],
        key_hash=hash_key(raw_key),
        scopes=scope_list,
        officine=officine,
        expires_at=expires_at,
        created_by=actor if getattr(actor, "_meta", None) else None,
    )
    audit_record(
        action="api_key.create",
        actor=actor,
        editor=editor,
        target=api_key,
        request=request,
        details={
            "prefix": api_key.prefix,
            "scopes": scope_list,
            "officine": officine.finess if officine else None,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return api_key, raw_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: Any, request: HttpRequest | None = None) -> ApiKey:
    """Revoke for good; revoking twice changes nothing and is not audited twice."""
    locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_record(
            action="api_key.revoke",
            actor=actor,
            editor=locked.editor_id,
            target=locked,
            request=request,
            details={"prefix": locked.prefix},
        )
    api_key.revoked_at = locked.revoked_at
    return api_key


def api_key_lookup(raw_key: str) -> ApiKey | None:
    """The key with this secret (usable or not), with its editor and officine; one query."""
    if not raw_key.startswith(KEY_PREFIX) or len(raw_key) > 128:
        return None
    return (
        ApiKey.objects.select_related("editor", "officine")
        .filter(key_hash=hash_key(raw_key))
        .first()
    )


def api_key_touch(api_key: ApiKey, now: datetime | None = None) -> None:
    """Record use, at most once per LAST_USED_RESOLUTION to avoid a write per request."""
    now = now or timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
