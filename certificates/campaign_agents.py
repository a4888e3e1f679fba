"""What the pharmacy-side agents answered in a renewal campaign, per request: CSR sent,
certificate installed, and when each officine's API key was last seen (issue 16)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Exists, Max, OuterRef

from certificates.models import (
    CertificateRequest,
    Installation,
    KeyMode,
    RenewalCampaign,
    RequestStatus,
)
from portal.models import ApiKey

ROWS_SHOWN = 200


def campaign_agent_rows(user: Any, campaign: RenewalCampaign) -> list[CertificateRequest]:
    """The campaign's requests (first 200), each with `csr_answered` (the CSR came from where
    the certificate is installed), `installed` and `agent_last_seen` (latest use of an API key
    limited to its officine, None if none was ever used). Three queries whatever the size."""
    rows = list(
        CertificateRequest.objects.visible_to(user)
        .filter(campaign=campaign)
        .select_related("officine")
        .defer("encrypted_private_key", "csr_pem")
        .annotate(
            installed=Exists(Installation.objects.filter(certificate__request_id=OuterRef("pk")))
        )
        .order_by("officine__finess", "profile", "pk")[:ROWS_SHOWN]
    )
    officine_ids = {row.officine_id for row in rows}
    seen: dict[int, datetime | None] = dict(
        ApiKey.objects.filter(editor_id=campaign.editor_id, officine_id__in=officine_ids)
        .order_by()
        .values("officine_id")
        .annotate(last=Max("last_used_at"))
        .values_list("officine_id", "last")
    )
    for row in rows:
        row.agent_last_seen = seen.get(row.officine_id)
        row.csr_answered = row.key_mode == KeyMode.CSR and row.status not in (
            RequestStatus.AWAITING_CSR,
            RequestStatus.CANCELLED,
        )
    return rows
