"""`Idempotency-Key` on POST: a retried request gets the first response instead of a second effect.

Records are keyed by (caller, key, method, path). The first request inserts an
"in progress" record (the unique constraint makes a concurrent duplicate fail), then the
response (status, body, Location) is stored once rendered. A retry with the same request
fingerprint gets the stored response back (header `Idempotent-Replayed: true`); the same
key with another body is a 422 problem. 5xx responses are not kept, so such a request can be
retried. Records expire after API_IDEMPOTENCY_TTL (24 h by default). A view whose answers
hold a secret shown once sets `idempotency_seal_body = True`: its stored body is then an
AES-256-GCM envelope under KEY_ENCRYPTION_KEYS (certificates/sealing.py), not clear text.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import status

from portal import sealing
from portal.api.authentication import ApiPrincipal
from portal.api.problems import ProblemException
from portal.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# An "in progress" record older than this belongs to a request that died: it may be taken over.
ABANDONED_AFTER = timedelta(minutes=2)


def _ttl() -> timedelta:
    return timedelta(seconds=getattr(settings, "API_IDEMPOTENCY_TTL", 24 * 3600))


def request_fingerprint(request) -> str:
    """Hash of what makes two requests "the same": method, path, query, content type, content.

    Multipart bodies are hashed field by field, since their boundary changes on every retry.
    """
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b"\0" + request.get_full_path().encode() + b"\0")
    content_type = request.content_type or ""
    media_type = content_type.split(";")[0].strip().lower()
    digest.update(media_type.encode() + b"\0")
    if media_type == "multipart/form-data":
        data, files = request.data, request.FILES
        for name in sorted(k for k in data if k not in files):
            for value in data.getlist(name):
                digest.update(f"{name}={value}\0".encode())
        for name in sorted(files):
            for upload in files.getlist(name):
                digest.update(f"{name}:".encode())
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
                digest.update(b"\0")
    else:
        digest.update(request._request.body)
    return digest.hexdigest()


_SEALED = "sealed:"


def _aad(record: IdempotencyRecord) -> bytes:
    return f"idempotency:{record.pk}".encode("ascii")


def _seal_body(record: IdempotencyRecord, body: str) -> str:
    return _SEALED + sealing.seal_text(body, associated_data=_aad(record))


class SealedBodyError(Exception):
    """A stored sealed body does not open (its wrapping key was removed, or it was altered)."""


def _stored_body(record: IdempotencyRecord) -> bytes:
    """The body to replay, decrypted when it was stored sealed."""
    if not record.body.startswith(_SEALED):
        return record.body.encode("utf-8")
    try:
        body = sealing.unseal_text(record.body.removeprefix(_SEALED), associated_data=_aad(record))
    except sealing.KeyStoreError as exc:
        raise SealedBodyError(f"idempotency record {record.pk}: {type(exc).__name__}") from None
    return body.encode("utf-8")


class _Replay(Exception):
    def __init__(self, record: IdempotencyRecord) -> None:
        self.record = record


def _owner(request) -> str:
    user = request.user
    if isinstance(user, ApiPrincipal):
        return f"key:{user.api_key.pk}"
    return f"user:{user.pk}"


class IdempotencyMixin:
    """For DRF views: honour `Idempotency-Key` on POST (set `idempotent = False` per action)."""

    idempotent = True
    idempotency_seal_body = False

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        self._idempotency_record = None
        key = request.headers.get(HEADER)
        if key is None or request.method != "POST" or not self.idempotent:
            return
        if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
            raise ProblemException(
                _("The Idempotency-Key header must be 1 to 255 printable ASCII characters."),
                status_code=status.HTTP_400_BAD_REQUEST,
                slug="bad-request",
            )
        self._idempotency_record = self._claim(request, key)

    def _claim(self, request, key: str) -> IdempotencyRecord:
        owner, now = _owner(request), timezone.now()
        fingerprint = request_fingerprint(request)
        lookup = {"owner": owner, "key": key, "method": request.method, "path": request.path}
        IdempotencyRecord.objects.filter(created_at__lt=now - _ttl()).delete()  # indexed
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    **lookup, fingerprint=fingerprint, created_at=now
                )
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(**lookup).first()
        if record is None:  # expired and purged by a concurrent request in between
            return IdempotencyRecord.objects.create(
                **lookup, fingerprint=fingerprint, created_at=now
            )
        if record.fingerprint != fingerprint:
            raise ProblemException(
                _(
                    "This Idempotency-Key was already used for a different request; "
                    "use a new key for a new request."
                ),
                status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
                slug="idempotency-key-reused",
            )
        if record.status_code is None:
            if record.created_at > now - ABANDONED_AFTER:
                raise ProblemException(
                    _("The first request with this Idempotency-Key is still running; retry later."),
                    status_code=status.HTTP_409_CONFLICT,
                    slug="idempotency-key-in-use",
                )
            IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=now)
            return record
        raise _Replay(record)

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            record = exc.record
            try:
                body = _stored_body(record)
            except SealedBodyError as error:  # an unexpected server error (500 problem)
                return super().handle_exception(error)
            response = HttpResponse(
                body,
                status=record.status_code,
                content_type=record.content_type or None,
            )
            if record.location:
                response["Location"] = record.location
            response["Idempotent-Replayed"] = "true"
            return response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record = getattr(self, "_idempotency_record", None)
        if record is None:
            return response
        self._idempotency_record = None
        if hasattr(response, "render") and not getattr(response, "is_rendered", True):
            response.render()
        body = None
        if response.status_code < 500 and not getattr(response, "streaming", False):
            try:
                body = response.content.decode("utf-8")
            except UnicodeDecodeError:
                body = None
        if body is None:
            record.delete()  # not replayable: let a retry run again
            return response
        record.status_code = response.status_code
        record.content_type = response.get("Content-Type", "")[:128]
        record.location = response.get("Location", "")[:512]
        record.body = _seal_body(record, body) if self.idempotency_seal_body else body
        record.save(update_fields=["status_code", "content_type", "location", "body"])
        return response
