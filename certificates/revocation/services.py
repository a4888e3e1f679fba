"""The revocation pass: fetch and apply each CA's CRL, OCSP as a fallback; on-demand checks.

A revocation learnt from the CA is final (`recording.certificate_revoked_by_ans` never
clears or changes one already recorded); a bad answer — unreachable server, HTTP error,
garbage, wrong signer, stale or older CRL, `unknown` — changes no certificate and is
recorded on the CA's `CrlState` or the certificate's `RevocationCheck`, and audited.
Where to ask is `sources`; one certificate's OCSP question is `ocsp_check`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509 as cx509
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from certificates.models import Certificate
from certificates.revocation import crl as crl_mod
from certificates.revocation import points
from certificates.revocation.fetch import FetchConfig, FetchError, fetch
from certificates.revocation.models import (
    CrlState,
    RevocationCheck,
    RevocationRun,
    RevocationSource,
)
from certificates.revocation.ocsp_check import (
    CheckOutcome,
    certificate_ocsp_check,
    ocsp_enabled,
)
from certificates.revocation.recording import certificate_revoked_by_ans
from certificates.revocation.sources import crl_url_for, fetch_config, trusted_cas
from portal.audit import audit_record
from portal.models import AuditEvent

logger = logging.getLogger(__name__)

# A page's or the API's own check waits at most this long on the responder.
INTERACTIVE_TIMEOUT = 5.0


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


# --------------------------------------------------------------------------- CRL application


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


# --------------------------------------------------------------------------- on demand


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
