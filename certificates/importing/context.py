"""The state an import run shares between its files: who imports, caches, batch look-ups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from certificates import x509
from certificates.importing.outcomes import ImportResult
from certificates.models import Certificate, CertificateRequest
from officines.models import Officine
from portal.events import certificate_event_wanted
from portal.models import Editor, User

# The webhook event announcing an imported certificate to the LGO (notifications/WEBHOOKS.md).
ISSUED_EVENT = "certificate.issued"


class ImportContext:
    """State shared by the files of one run: who imports, the trust store, look-up caches."""

    def __init__(
        self,
        *,
        editor: Editor,
        actor: Any,
        http_request: HttpRequest | None,
        create_officines: bool,
        allow_untrusted: bool,
        services: Sequence[str] | None,
        preload_officines: bool,
    ) -> None:
        self.editor = editor
        self.actor = actor
        self.http_request = http_request
        self.create_officines = create_officines
        self.allow_untrusted = allow_untrusted
        self.services = list(services or [])
        self.max_size: int = settings.MAX_UPLOAD_SIZE
        self.parse_seconds: float = settings.UPLOAD_PARSE_SECONDS
        # A bundle the caller already opened (the API checks an officine-limited key's
        # file first): used instead of deriving the PKCS#12 key a second time.
        self.preloaded: x509.LoadedBundle | x509.X509Error | None = None
        user = actor if isinstance(actor, User) else None
        if user is None and http_request is not None and isinstance(http_request.user, User):
            user = http_request.user  # an API key (ApiPrincipal) is no importing user
        self.user = user
        self._officines: dict[str, Officine] | None = None
        if preload_officines:  # one query for the whole run instead of one per file
            self._officines = {o.finess: o for o in Officine.objects.of_editor(editor.pk)}

    def officines(self, finesses: set[str]) -> dict[str, Officine]:
        if not finesses:
            return {}
        if self._officines is not None:
            return {f: self._officines[f] for f in finesses if f in self._officines}
        found = Officine.objects.of_editor(self.editor.pk).filter(finess__in=finesses)
        return {o.finess: o for o in found}

    @cached_property
    def announces_issued(self) -> bool:
        """Whether anyone acts on `certificate.issued` for this editor, asked once a run: when
        nobody does, a bulk import sends no event (and spends no query) per certificate."""
        return certificate_event_wanted(editor_id=self.editor.pk, event=ISSUED_EVENT)

    def remember_officine(self, officine: Officine) -> None:
        if self._officines is not None:
            self._officines[officine.finess] = officine


_LIVE_FIELDS = (
    "id",
    "editor_id",
    "officine_id",
    "profile",
    "common_name",
    "environment",
    "not_after",
    "usable_until",
    "serial",
    "replaces_id",
    "revoked_at",
    "superseded_at",
)


def live_certificates(
    ctx: ImportContext, officine_ids: Iterable[int]
) -> dict[int, list[Certificate]]:
    """Live certificates of some officines, the candidates a new certificate may replace."""
    ids = [pk for pk in officine_ids if pk is not None]
    live: dict[int, list[Certificate]] = {pk: [] for pk in ids}
    if ids:
        rows = Certificate.objects.of_editor(ctx.editor.pk).live().filter(officine_id__in=ids)
        for certificate in rows.only(*_LIVE_FIELDS).order_by():
            live[certificate.officine_id].append(certificate)
    return live


@dataclass
class Lookups:
    """What the database knows about a batch of files, one query per kind for the batch."""

    registered: dict[str, tuple[int, int, str]]  # fingerprint -> (editor id, pk, serial)
    requests: dict[str, CertificateRequest]  # public key hash -> issuable request
    officines: dict[str, Officine]  # FINESS -> officine of the editor
    live: dict[int, list[Certificate]]  # officine id -> its live certificates
    duplicates: dict[int, list[ImportResult]] = field(default_factory=dict)
    pending: dict[str, Certificate] = field(default_factory=dict)  # waiting for bulk insert
    # (officine id, profile, CN) -> open request whose key is generated on the ANS platform
    ans_requests: dict[tuple[int, str, str], CertificateRequest] = field(default_factory=dict)

    def register(self, certificate: Certificate) -> None:
        """A certificate just written: later files of the batch see it as a duplicate."""
        self.registered[certificate.fingerprint_sha256] = (
            certificate.editor_id,
            certificate.pk,
            certificate.serial,
        )
