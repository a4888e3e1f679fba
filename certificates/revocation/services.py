"""Acting on what IGC Santé says: fetch and apply CRLs, ask OCSP, record revocations.

Every write is here. A revocation learnt from the CA is final (`certificate_revoked_by_ans`
never clears or changes one already recorded); a bad answer — unreachable server, HTTP
error, garbage, wrong signer, stale or older CRL, `unknown` — changes no certificate and is
recorded on the CA's `CrlState` or the certificate's `RevocationCheck`, and audited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from certificates import trust
from certificates.models import Certificate, RevocationReason
from certificates.revocation import crl as crl_mod
from certificates.revocation import ocsp as ocsp_mod
from certificates.revocation import points
from certificates.revocation.fetch import FetchConfig, FetchError, fetch
from certificates.revocation.models import (
    CrlState,
    OcspStatus,
    RevocationCheck,
    RevocationRun,
    RevocationSource,
)
from portal.audit import audit_record
from portal.events import certificate_event_send
from portal.models import AuditEvent

logger = logging.getLogger(__name__)

# RFC 5280 reasons → the ANS revocation causes the portal records (domain.md, Lifecycle §6).
REASONS = {
    "keyCompromise": RevocationReason.KEY_COMPROMISE,
    "cACompromise": RevocationReason.KEY_COMPROMISE,
    "cessationOfOperation": RevocationReason.CESSATION,
    "affiliationChanged": RevocationReason.DATA_CHANGE,
    "superseded": RevocationReason.DATA_CHANGE,
}
SOURCE_LABELS = {RevocationSource.CRL: "IGC Santé (CRL)", RevocationSource.OCSP: "IGC Santé (OCSP)"}
# A page's or the API's own check waits at most this long on the responder.
INTERACTIVE_TIMEOUT = 5.0


def fetch_config(*, timeout: float | None = None) -> FetchConfig:
    return FetchConfig(
        timeout=min(timeout, settings.REVOCATION_HTTP_TIMEOUT)
        if timeout
        else settings.REVOCATION_HTTP_TIMEOUT,
        max_bytes=settings.REVOCATION_MAX_CRL_BYTES,
        proxy=settings.REVOCATION_HTTP_PROXY,
    )


def trusted_cas() -> list[cx509.Certificate]:
    """The CA certificates of the trust anchors: the only ones whose CRLs/OCSP we believe."""
    store = trust.trust_store()
    return [*store.roots, *store.intermediates]


def _issuer_cn(cert: cx509.Certificate) -> str:
    names = cert.issuer.get_attributes_for_oid(cx509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _override(cert: cx509.Certificate, kind: str) -> str:
    return str((settings.REVOCATION_CA_OVERRIDES or {}).get(_issuer_cn(cert), {}).get(kind, ""))


def crl_url_for(cert: cx509.Certificate) -> str:
    """Where to fetch the CRL of `cert`'s CA: per-CA override, else mirror, else its CDP."""
    override = _override(cert, "crl")
    if override:
        return override
    urls = points.crl_urls(cert)
    if not urls:
        return ""
    mirror = settings.REVOCATION_CRL_MIRROR
    if mirror:
        return f"{mirror.rstrip('/')}/{PurePosixPath(urlsplit(urls[0]).path).name}"
    return urls[0]


def ocsp_url_for(cert: cx509.Certificate) -> str:
    override = _override(cert, "ocsp")
    if override:
        return override
    urls = [u for u in points.ocsp_urls(cert) if u.lower().startswith("http")]
    return urls[0] if urls else ""


@dataclass
class PassReport:
    """What one pass did, per CRL and per OCSP check (the command prints it, the run keeps it)."""

    crls: list[dict[str, Any]] = field(default_factory=list)
    ocsp: list[dict[str, Any]] = field(default_factory=list)
    revoked: list[int] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for c in self.crls if c["outcome"] in ("refused", "unreachable"))

    def as_dict(self) -> dict[str, Any]:
        return {"crls": self.crls, "ocsp": self.ocsp, "revoked": self.revoked}


# --------------------------------------------------------------------------- recording


@transaction.atomic
def certificate_revoked_by_ans(
    *,
    certificate_id: int,
    revoked_at: datetime,
    reason: str,
    source: str,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Record that the CA revoked a live certificate (its date and reason); False if it was
    already revoked (never changed) or is gone. Coverage follows (post_save), alerts stop
    (they only consider live certificates), the editor's listeners hear of it."""
    locked = Certificate.objects.select_for_update().filter(pk=certificate_id).first()
    if locked is None or locked.revoked_at is not None:
        return False
    locked.revoked_at = revoked_at
    locked.revocation_reason = REASONS.get(reason, RevocationReason.OTHER)
    locked.revocation_source = source
    locked.save(update_fields=["revoked_at", "revocation_reason", "revocation_source"])
    label = SOURCE_LABELS[RevocationSource(source)]
    audit_record(
        action="certificate.revoked_by_ans",
        target=locked,
        reason=f"{label}: {reason or 'unspecified'}",
        details={
            "source": source,
            "reason": reason,
            "revoked_at": revoked_at.isoformat(),
            **(detail or {}),
        },
    )
    certificate_event_send(
        editor_id=locked.editor_id,
        event="certificate.revoked",
        certificate_id=locked.pk,
        context={
            "revoked_by": "ans",
            "source": label,
            "reason": reason,
            "revoked_at": revoked_at.isoformat(),
            "action": "order_new_certificate",
        },
    )
    return True


def _removed_from_crl(certificate_ids: list[int], now: datetime, detail: dict[str, Any]) -> None:
    """The CA says removeFromCRL for certificates we keep revoked: shown and logged, not undone."""
    for certificate in Certificate.objects.filter(pk__in=certificate_ids).defer("pem", "chain_pem"):
        RevocationCheck.objects.update_or_create(
            certificate=certificate, defaults={"removed_from_crl_at": now}
        )
        audit_record(
            action="certificate.removed_from_crl",
            target=certificate,
            reason="removeFromCRL ignored: a revocation is final",
            details=detail,
        )
        logger.warning(
            "CA listed removeFromCRL for revoked certificate %s: kept revoked", certificate.pk
        )


def crl_apply(
    verified: crl_mod.VerifiedCrl,
    *,
    now: datetime,
    scope: Q | None = None,
    detail: dict[str, Any] | None = None,
) -> list[int]:
    """Revoke the live certificates of this CA that the CRL lists; ids of those revoked.

    One narrow read of (id, serial) of the CA's live certificates, a set intersection with
    the CRL's serials, then per hit a short transaction (hits are few; the CRL is long).
    """
    live = Certificate.objects.live().filter(issuer_dn=verified.issuer_dn)
    if scope is not None:
        live = live.filter(scope)
    by_serial: dict[int, int] = {}
    for pk, serial in live.values_list("pk", "serial").iterator(chunk_size=10_000):
        try:
            by_serial[int(serial, 16)] = pk
        except ValueError:
            continue
    revoked = []
    detail = detail or {}
    for revocation in verified.matching(by_serial):
        if revocation.reason == "removeFromCRL":
            continue
        if certificate_revoked_by_ans(
            certificate_id=by_serial[revocation.serial],
            revoked_at=revocation.revoked_at,
            reason=revocation.reason,
            source=RevocationSource.CRL,
            detail=detail,
        ):
            revoked.append(by_serial[revocation.serial])
    if verified.is_delta:
        removed = _removed_serials(verified, scope)
        if removed:
            _removed_from_crl(removed, now, detail)
    return revoked


def _removed_serials(verified: crl_mod.VerifiedCrl, scope: Q | None) -> list[int]:
    serials = {
        points.serial_hex(entry.serial_number)
        for entry in verified.crl
        if (r := verified.revocation(entry.serial_number)) and r.reason == "removeFromCRL"
    }
    if not serials:
        return []
    revoked = Certificate.objects.filter(
        issuer_dn=verified.issuer_dn, serial__in=serials, revoked_at__isnull=False
    )
    if scope is not None:
        revoked = revoked.filter(scope)
    return list(revoked.values_list("pk", flat=True))


# --------------------------------------------------------------------------- CRLs


def _obtain(url: str, *, etag: str, last_modified: str, config: FetchConfig, offline: str = ""):
    """The CRL's bytes, or None when unchanged (HTTP 304 or the same offline file)."""
    offline = offline or settings.REVOCATION_OFFLINE_DIR
    if offline:
        path = Path(offline) / PurePosixPath(urlsplit(url).path).name
        try:
            if path.stat().st_size > config.max_bytes:
                raise FetchError(f"{path} too large")
            return path.read_bytes(), "", ""
        except OSError as exc:
            raise FetchError(f"offline CRL {path} unreadable: {exc.strerror}") from None
    result = fetch(url, config=config, etag=etag, last_modified=last_modified)
    if result.not_modified:
        return None, result.etag, result.last_modified
    return result.body, result.etag, result.last_modified


def _fail(state: CrlState, report: PassReport, code: str, message: str, now: datetime) -> None:
    state.last_error, state.last_error_code, state.last_error_at = message[:500], code, now
    state.save(update_fields=["last_attempt_at", "last_error", "last_error_code", "last_error_at"])
    outcome = "unreachable" if code == "unreachable" else "refused"
    report.crls.append(
        {"issuer": state.issuer_dn, "url": state.url, "outcome": outcome, "code": code,
         "message": message}
    )  # fmt: skip
    audit_record(
        action=f"revocation.crl_{outcome}",
        outcome=AuditEvent.Outcome.FAILURE,
        reason=message[:255],
        details={"issuer": state.issuer_dn, "url": state.url, "code": code},
    )
    logger.warning("CRL of %s %s: %s", state.issuer_dn, outcome, message)


def crl_refresh(
    *,
    issuer_dn: str,
    leaf: cx509.Certificate,
    report: PassReport,
    now: datetime | None = None,
    scope: Q | None = None,
    offline_dir: str = "",
) -> bool:
    """Fetch, verify and apply one CA's CRL (and its delta); True when it was applied.
    `offline_dir` reads the CRL files from that folder (like REVOCATION_OFFLINE_DIR)."""
    now = now or timezone.now()
    state, _ = CrlState.objects.get_or_create(issuer_dn=issuer_dn)
    state.last_attempt_at = now
    url = crl_url_for(leaf)
    if not url:
        _fail(state, report, "no_crl_url", "The certificates of this CA name no HTTP CRL.", now)
        return False
    changed_url = url != state.url
    state.url = url
    config = fetch_config()
    try:
        data, etag, last_modified = _obtain(
            url,
            etag="" if changed_url else state.etag,
            last_modified="" if changed_url else state.last_modified,
            config=config,
            offline=offline_dir,
        )
    except FetchError as exc:
        _fail(state, report, "unreachable", str(exc), now)
        return False
    fresh = data is not None and bytes(data) != bytes(state.der or b"")
    data = data if data is not None else state.der
    if data is None:
        _fail(state, report, "unreadable", "Not modified, but no CRL kept: retry later.", now)
        state.etag = state.last_modified = ""
        state.save(update_fields=["etag", "last_modified"])
        return False
    try:
        verified = crl_mod.verify_crl(bytes(data), issuers=trusted_cas(), now=now)
        if verified.issuer_dn != issuer_dn:
            raise crl_mod.CrlError("wrong_issuer", f"CRL of « {verified.issuer_dn} » at {url}.")
        if verified.is_delta:
            raise crl_mod.CrlError("delta_at_base", "A delta CRL was published as the base CRL.")
        if fresh:
            crl_mod.check_not_older(
                verified,
                kept_number=int(state.crl_number) if state.crl_number else None,
                kept_this_update=state.this_update,
            )
    except crl_mod.CrlError as exc:
        _fail(state, report, exc.code, exc.message, now)
        return False
    detail = {"crl_url": url, "crl_number": verified.number}
    revoked = crl_apply(verified, now=now, scope=scope, detail=detail)
    entry = {
        "issuer": issuer_dn,
        "url": url,
        "outcome": "applied" if fresh else "not_modified",
        "crl_number": verified.number,
        "entries": len(verified),
        "next_update": verified.next_update.isoformat(),
        "revoked": revoked,
    }
    state.etag, state.last_modified = etag, last_modified
    if fresh:
        state.der = bytes(data)
    state.crl_number = "" if verified.number is None else str(verified.number)
    state.this_update, state.next_update = verified.this_update, verified.next_update
    state.entries = len(verified)
    state.last_success_at = now
    state.last_error = state.last_error_code = ""
    state.last_error_at = None
    if not offline_dir:
        revoked += _delta_refresh(state, verified, now=now, scope=scope, entry=entry)
    state.save()
    report.crls.append(entry)
    report.revoked.extend(revoked)
    audit_record(
        action="revocation.crl_applied",
        reason=f"{issuer_dn} #{verified.number}",
        details={k: v for k, v in entry.items() if k != "issuer"} | {"issuer": issuer_dn},
    )
    return True


def _delta_refresh(
    state: CrlState,
    base: crl_mod.VerifiedCrl,
    *,
    now: datetime,
    scope: Q | None,
    entry: dict[str, Any],
) -> list[int]:
    """Apply the delta CRL the base announces (FreshestCRL), if any; failures are reported
    with the base's entry and change nothing."""
    urls = base.freshest_urls
    if not urls or settings.REVOCATION_OFFLINE_DIR:
        return []
    state.delta_url = urls[0]
    try:
        result = fetch(urls[0], config=fetch_config())
        delta = crl_mod.verify_crl(result.body, issuers=trusted_cas(), now=now)
        if not delta.is_delta or delta.issuer_dn != base.issuer_dn:
            raise crl_mod.CrlError("not_delta", "The FreshestCRL address serves no delta CRL.")
        if base.number is not None and delta.delta_of is not None and delta.delta_of > base.number:
            raise crl_mod.CrlError("delta_base", "The delta CRL needs a newer base CRL.")
        crl_mod.check_not_older(
            delta,
            kept_number=int(state.delta_number) if state.delta_number else None,
            kept_this_update=state.delta_this_update,
        )
    except (FetchError, crl_mod.CrlError) as exc:
        entry["delta"] = {"outcome": "refused", "message": str(exc)}
        audit_record(
            action="revocation.crl_refused",
            outcome=AuditEvent.Outcome.FAILURE,
            reason=str(exc)[:255],
            details={"issuer": state.issuer_dn, "url": urls[0], "delta": True},
        )
        return []
    revoked = crl_apply(delta, now=now, scope=scope, detail={"crl_url": urls[0], "delta": True})
    state.delta_number = "" if delta.number is None else str(delta.number)
    state.delta_this_update, state.delta_next_update = delta.this_update, delta.next_update
    entry["delta"] = {"outcome": "applied", "crl_number": delta.number, "revoked": revoked}
    return revoked


def _targets(scope: Q | None, now: datetime) -> list[tuple[str, str]]:
    """(issuer DN, one certificate PEM) for each CA that has live, unexpired certificates."""
    live = Certificate.objects.live().filter(not_after__gt=now)
    if scope is not None:
        live = live.filter(scope)
    issuers = sorted(set(live.values_list("issuer_dn", flat=True).distinct()))
    return [
        (dn, live.filter(issuer_dn=dn).values_list("pem", flat=True).first() or "")
        for dn in issuers
    ]


def _ocsp_fallback(scope: Q | None, failed: set[str], report: PassReport, now: datetime) -> None:
    """For CAs whose CRL failed: ask OCSP for a bounded number of their certificates, those
    checked least recently first (the rest wait for the next pass)."""
    limit = settings.REVOCATION_OCSP_FALLBACK_LIMIT
    if not failed or limit <= 0 or not ocsp_enabled():
        return
    candidates = Certificate.objects.live().filter(not_after__gt=now, issuer_dn__in=failed)
    if scope is not None:
        candidates = candidates.filter(scope)
    fresh = Q(revocation_check__ocsp_next_update__gt=now)
    never_first = F("revocation_check__ocsp_checked_at").asc(nulls_first=True)
    for certificate in candidates.exclude(fresh).order_by(never_first, "pk")[:limit]:
        outcome = certificate_ocsp_check(certificate=certificate, now=now)
        report.ocsp.append(outcome.as_dict())
        if outcome.revoked:
            report.revoked.append(certificate.pk)


def revocation_pass(
    *,
    trigger: str = RevocationRun.Trigger.BEAT,
    editor_id: int | None = None,
    certificate_id: int | None = None,
    now: datetime | None = None,
    offline_dir: str = "",
) -> tuple[RevocationRun, PassReport]:
    """One pass: each CA's CRL fetched once and applied (to one editor or certificate when
    given), OCSP as a fallback for CAs whose CRL failed. Recorded as a `RevocationRun`."""
    now = now or timezone.now()
    scope = None
    if editor_id is not None:
        scope = Q(editor_id=editor_id)
    if certificate_id is not None:
        scope = (scope or Q()) & Q(pk=certificate_id)
    run = RevocationRun.objects.create(trigger=trigger, started_at=now)
    report = PassReport()
    failed: set[str] = set()
    for issuer_dn, pem in _targets(scope, now):
        try:
            leaf = cx509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            continue
        if not crl_refresh(
            issuer_dn=issuer_dn,
            leaf=leaf,
            report=report,
            now=now,
            scope=scope,
            offline_dir=offline_dir,
        ):
            failed.add(issuer_dn)
    if not offline_dir:
        _ocsp_fallback(scope, failed, report, now)
    run.finished_at = timezone.now()
    run.crls_applied = sum(1 for c in report.crls if c["outcome"] in ("applied", "not_modified"))
    run.crls_failed = report.failed
    run.certificates_revoked = len(set(report.revoked))
    run.succeeded = report.failed == 0
    run.report = report.as_dict()
    run.save()
    return run, report


# --------------------------------------------------------------------------- OCSP


def ocsp_enabled() -> bool:
    return settings.REVOCATION_OCSP_ENABLED and not settings.REVOCATION_OFFLINE_DIR


@dataclass
class CheckOutcome:
    certificate_id: int
    status: str  # good / revoked / unknown / error / cached-<status> / unavailable
    message: str = ""
    revoked: bool = False
    cached: bool = False
    next_update: datetime | None = None
    method: str = "ocsp"  # or "crl" when the CA's CRL answered instead

    def as_dict(self) -> dict[str, Any]:
        return {
            "certificate": self.certificate_id,
            "status": self.status,
            "message": self.message,
            "revoked": self.revoked,
            "cached": self.cached,
            "method": self.method,
            "next_update": self.next_update.isoformat() if self.next_update else None,
        }


def _issuer_of(cert: cx509.Certificate) -> cx509.Certificate | None:
    """The issuing CA among the trust anchors (never one only carried by the certificate)."""
    for candidate in trusted_cas():
        if candidate.subject == cert.issuer and _signed_by(cert, candidate):
            return candidate
    return None


def _signed_by(cert: cx509.Certificate, issuer: cx509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def certificate_ocsp_check(
    *,
    certificate: Certificate,
    now: datetime | None = None,
    use_cache: bool = True,
    timeout: float | None = None,
    actor: Any = None,
    http_request: Any = None,
) -> CheckOutcome:
    """Ask the CA's OCSP responder about one certificate (cached until the answer's
    nextUpdate); a revoked answer revokes it, anything else changes no certificate."""
    now = now or timezone.now()
    check = RevocationCheck.objects.filter(certificate_id=certificate.pk).first()
    if (
        use_cache
        and check is not None
        and check.ocsp_status
        and check.ocsp_next_update is not None
        and check.ocsp_next_update > now
    ):
        return CheckOutcome(
            certificate.pk, check.ocsp_status, cached=True, next_update=check.ocsp_next_update
        )
    if not ocsp_enabled():
        return CheckOutcome(certificate.pk, "unavailable", "OCSP is off (offline mode).")
    cert = cx509.load_pem_x509_certificate(certificate.pem.encode())
    issuer = _issuer_of(cert)
    url = ocsp_url_for(cert)
    check = check or RevocationCheck(certificate=certificate)
    try:
        if issuer is None:
            raise ocsp_mod.OcspError("no_issuer", "The issuing CA is not in the trust anchors.")
        if not url:
            raise ocsp_mod.OcspError("no_ocsp_url", "The certificate names no OCSP responder.")
        request_der, nonce = ocsp_mod.build_request(cert, issuer)
        result = fetch(
            url,
            config=fetch_config(timeout=timeout),
            data=request_der,
            content_type=ocsp_mod.CONTENT_TYPE,
        )
        answer = ocsp_mod.verify_response(
            result.body, cert=cert, issuer=issuer, nonce=nonce, now=now
        )
    except (FetchError, ocsp_mod.OcspError) as exc:
        message = getattr(exc, "message", str(exc))
        check.ocsp_url = url
        check.last_error, check.last_error_at = message[:500], now
        check.save()
        audit_record(
            action="certificate.ocsp_check",
            actor=actor,
            target=certificate,
            request=http_request,
            outcome=AuditEvent.Outcome.FAILURE,
            reason=message[:255],
            details={"url": url, "code": getattr(exc, "code", "unreachable")},
        )
        return CheckOutcome(certificate.pk, "error", message)
    check.ocsp_status = answer.status
    check.ocsp_checked_at = now
    check.ocsp_this_update, check.ocsp_next_update = answer.this_update, answer.next_update
    check.ocsp_responder, check.ocsp_url = answer.responder[:512], url
    check.last_error, check.last_error_at = "", None
    check.save()
    audit_record(
        action="certificate.ocsp_check",
        actor=actor,
        target=certificate,
        request=http_request,
        reason=answer.status,
        details={"url": url, "status": answer.status, "responder": answer.responder},
    )
    revoked = False
    if answer.status == OcspStatus.REVOKED and answer.revoked_at is not None:
        revoked = certificate_revoked_by_ans(
            certificate_id=certificate.pk,
            revoked_at=answer.revoked_at,
            reason=answer.reason,
            source=RevocationSource.OCSP,
            detail={"ocsp_url": url},
        )
        certificate.refresh_from_db(fields=["revoked_at", "revocation_reason", "revocation_source"])
    return CheckOutcome(
        certificate.pk, answer.status, revoked=revoked, next_update=answer.next_update
    )


def certificate_revocation_check(
    *,
    certificate: Certificate,
    actor: Any = None,
    http_request: Any = None,
    timeout: float | None = None,
    now: datetime | None = None,
) -> CheckOutcome:
    """One certificate, on demand: OCSP (cached answer if still fresh); when OCSP gives no
    usable answer, its CA's CRL (scoped to this certificate). Bounded by `timeout` per call."""
    now = now or timezone.now()
    outcome = certificate_ocsp_check(
        certificate=certificate, now=now, timeout=timeout, actor=actor, http_request=http_request
    )
    if outcome.status in ("error", "unavailable") and certificate.revoked_at is None:
        _, report = revocation_pass(
            trigger=RevocationRun.Trigger.CERTIFICATE, certificate_id=certificate.pk, now=now
        )
        applied = [c for c in report.crls if c["outcome"] in ("applied", "not_modified")]
        if applied:
            certificate.refresh_from_db(
                fields=["revoked_at", "revocation_reason", "revocation_source"]
            )
            revoked = certificate.pk in report.revoked
            return CheckOutcome(
                certificate.pk,
                "revoked" if certificate.revoked_at else "good",
                message=f"CRL #{applied[0].get('crl_number')}",
                revoked=revoked,
                method="crl",
            )
    return outcome
