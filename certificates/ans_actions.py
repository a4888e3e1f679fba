"""Certificates ANS must revoke or reissue because their officine changed.

The ANS guide lists the causes of revocation: cessation of activity, change of any data in
the certificate (raison sociale, FINESS...). So when an officine is deactivated its live
certificates become « à révoquer »; when its raison sociale or département changes (the O or
ST of their subject) they become « à réémettre ». The flag lives on the certificate and
counts while it is live: recording its revocation, or importing its renewal (which
supersedes it), ends it. Alerts for a deactivated officine stop (notifications.scan); the
flag does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from certificates.models import AnsAction, Certificate, Profile
from certificates.offers import ans_offer
from officines.identifiers import department_label

CHANGE_TO_ACTION = {"deactivated": AnsAction.REVOKE, "identity": AnsAction.REISSUE}


def flag_on_officine_change(sender=None, *, officine_ids: list[int], change: str, **kwargs) -> int:
    """Receiver of `portal.events.officine_changed`: flag the officines' live certificates.

    « À révoquer » wins over « à réémettre » (a closed officine needs no new certificate).
    For a changed identity, a certificate whose subject already carries the officine's
    current O and ST (issued after the change) is left alone. One UPDATE, plus one SELECT
    for identity changes.
    """
    action = CHANGE_TO_ACTION[change]
    live = Certificate.objects.filter(officine_id__in=officine_ids).live()
    now = timezone.now()
    if action == AnsAction.REVOKE:
        return live.exclude(ans_action=AnsAction.REVOKE).update(
            ans_action=AnsAction.REVOKE, ans_action_since=now
        )
    stale = []
    rows = live.filter(ans_action="").values_list(
        "pk", "subject_dn", "officine__raison_sociale", "officine__department"
    )
    for pk, subject, name, department in rows:
        parts = subject_parts(subject)
        expected_st = department_label(department) if department else ""
        if parts.get("O") == name and (not expected_st or parts.get("ST") == expected_st):
            continue
        stale.append(pk)
    return Certificate.objects.filter(pk__in=stale).update(
        ans_action=AnsAction.REISSUE, ans_action_since=now
    )


def subject_parts(subject: str) -> dict[str, str]:
    """{"O": ..., "ST": ...} of an RFC 4514 subject string as stored (escapes undone)."""
    parts = {}
    for component in re.split(r"(?<!\\),", subject):
        key, _sep, value = component.partition("=")
        parts[key.strip().upper()] = re.sub(r"\\(.)", r"\1", value)
    return parts


def flagged(queryset: QuerySet) -> QuerySet:
    """Live certificates with an action at ANS pending."""
    return queryset.live().exclude(ans_action="")


def ans_action_counts() -> dict[str, Count]:
    """Aggregates `ans_revoke` and `ans_reissue` for a queryset of live certificates (to join
    another aggregate: the dashboard's status counts)."""
    return {
        "ans_revoke": Count("pk", filter=Q(ans_action=AnsAction.REVOKE)),
        "ans_reissue": Count("pk", filter=Q(ans_action=AnsAction.REISSUE)),
    }


def flagged_counts(queryset: QuerySet) -> dict[str, int]:
    """{"revoke": n, "reissue": m} over the live flagged certificates, one query."""
    counts = flagged(queryset).aggregate(**ans_action_counts())
    return {"revoke": counts["ans_revoke"] or 0, "reissue": counts["ans_reissue"] or 0}


def worksheet_header() -> list[str]:
    return [
        _("Geographic FINESS"),
        _("Legal name (raison sociale)"),
        _("Action at ANS"),
        _("Why"),
        _("Offer"),
        _("Profile"),
        _("Application service (CN)"),
        _("Serial number"),
        _("Valid until"),
        _("Subject of the certificate"),
        _("Raison sociale and département now"),
    ]


def worksheet_rows(queryset: QuerySet) -> Iterator[list[Any]]:
    """Header then one line per flagged live certificate of `queryset` (scoped), one query."""
    yield worksheet_header()
    why = {
        AnsAction.REVOKE: _("cessation of activity (officine deactivated)"),
        AnsAction.REISSUE: _("raison sociale or département changed: O or ST no longer match"),
    }
    rows = (
        flagged(queryset)
        .select_related("officine")
        .defer("pem", "chain_pem", "issuer_dn")
        .order_by("officine__finess", "profile", "common_name", "pk")
    )
    for certificate in rows.iterator(chunk_size=1000):
        officine = certificate.officine
        yield [
            officine.finess,
            officine.raison_sociale,
            AnsAction(certificate.ans_action).label,
            why[certificate.ans_action],
            ans_offer(certificate.profile),
            Profile(certificate.profile).label,
            certificate.common_name,
            certificate.serial,
            timezone.localdate(certificate.not_after).isoformat(),
            certificate.subject_dn,
            f"{officine.raison_sociale} — "
            f"{department_label(officine.department) if officine.department else ''}",
        ]
