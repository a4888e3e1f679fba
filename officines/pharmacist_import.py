"""CSV import of pharmacists: e-mail, FINESS, RPPS (optional) -> invitations or RPPS on accesses.

Same rules as the officines import (`officines.csv_import.reading`, whose decoding and header
matching it reuses): the whole file is checked first; any bad row, and nothing is written.
A row naming a pharmacist who already has access to the officine sets the RPPS of that access;
the other rows become one pharmacist invitation per e-mail address, naming its officines and
its RPPS (so that the pharmacist may also log in with Pro Santé Connect).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from officines import identifiers
from officines.csv_import.reading import (
    CsvFileError,
    RowError,
    decode_csv,
    normalize_header,
    read_rows,
)
from officines.models import Officine, PharmacistAccess
from officines.validators import validate_rpps_field
from portal.audit import audit_record
from portal.models import InvitationKind, Membership
from portal.services import invitation_create

MAX_ROWS = 5_000
COLUMN_ALIASES = {
    "email": ("e mail", "email", "courriel", "adresse e mail", "mail"),
    "finess": ("finess", "finess geographique", "finess geo", "numero finess"),
    "rpps": ("rpps", "numero rpps", "n rpps"),
}
REQUIRED = ("email", "finess")
_LOOKUP = {alias: key for key, aliases in COLUMN_ALIASES.items() for alias in aliases}
TEMPLATE_HEADER = ("E-mail", "FINESS", "RPPS")


@dataclass
class PharmacistPlan:
    errors: list[RowError] = field(default_factory=list)
    rpps_updates: list[tuple[PharmacistAccess, str]] = field(default_factory=list)
    # e-mail -> (officines, rpps)
    invitations: dict[str, tuple[list[Officine], str]] = field(default_factory=dict)
    rows: int = 0


def _rows(text: str) -> tuple[list[str | None], list[tuple[int, list[str]]]]:
    header, rows = read_rows(text, max_rows=MAX_ROWS)
    columns = [_LOOKUP.get(normalize_header(name)) for name in header]
    missing = [key for key in REQUIRED if key not in columns]
    if missing:
        raise CsvFileError(
            _(
                "Missing column(s): %(missing)s. The first line must name the columns, for example: %(expected)s."
            )
            % {"missing": ", ".join(missing), "expected": "; ".join(TEMPLATE_HEADER)}
        )
    if not rows:
        raise CsvFileError(_("The file has a header but no pharmacist."))
    return columns, rows


def pharmacists_import_plan(*, editor_id: int, data: bytes) -> PharmacistPlan:
    """Check every row against the editor's officines and the accesses; write nothing."""
    columns, rows = _rows(decode_csv(data))
    plan = PharmacistPlan(rows=len(rows))
    officines = {o.finess: o for o in Officine.objects.filter(editor_id=editor_id, is_active=True)}
    parsed = []
    for line, cells in rows:
        values = {
            key: (cells[i].strip() if i < len(cells) else "")
            for i, key in enumerate(columns)
            if key
        }
        email = values.get("email", "").lower()
        try:
            validate_email(email)
        except ValidationError:
            plan.errors.append(RowError(line, "email", _("Invalid e-mail address.")))
            continue
        try:
            finess = identifiers.normalize_finess(values.get("finess", ""))
        except identifiers.IdentifierError:
            finess = values.get("finess", "")
        officine = officines.get(finess)
        if officine is None:
            plan.errors.append(
                RowError(line, "finess", _("No officine of yours has this FINESS géographique."))
            )
            continue
        rpps = values.get("rpps", "")
        if rpps:
            try:
                validate_rpps_field(rpps)
            except ValidationError as exc:
                plan.errors.append(RowError(line, "rpps", " ".join(exc.messages)))
                continue
            rpps = identifiers.validate_rpps(rpps)
        parsed.append((line, email, officine, rpps))
    emails = {email for _line, email, _o, _r in parsed}
    staff = set(
        Membership.objects.filter(user__email__in=emails).values_list("user__email", flat=True)
    )
    accesses = {
        (a.user.email, a.officine_id): a
        for a in PharmacistAccess.objects.filter(
            user__email__in=emails, officine__editor_id=editor_id
        ).select_related("user")
    }
    rpps_owner = dict(
        PharmacistAccess.objects.filter(rpps__in={r for *_x, r in parsed if r})
        .exclude(rpps="")
        .values_list("rpps", "user__email")
    )
    rpps_of_email: dict[str, str] = {}
    email_of_rpps: dict[str, str] = {}
    for line, email, officine, rpps in parsed:
        if email in staff:
            plan.errors.append(
                RowError(line, "email", _("Editor staff cannot be invited as pharmacists."))
            )
            continue
        if rpps:
            owner = rpps_owner.get(rpps)
            if (owner and owner != email) or email_of_rpps.setdefault(rpps, email) != email:
                plan.errors.append(
                    RowError(
                        line,
                        "rpps",
                        _("This RPPS number is already recorded for another pharmacist."),
                    )
                )
                continue
            if rpps_of_email.setdefault(email, rpps) != rpps:
                plan.errors.append(
                    RowError(line, "rpps", _("Another row gives this pharmacist another RPPS."))
                )
                continue
        access = accesses.get((email, officine.pk))
        if access is not None:
            if rpps and access.rpps != rpps:
                plan.rpps_updates.append((access, rpps))
            continue
        chosen, _rpps = plan.invitations.get(email, ([], ""))
        if officine not in chosen:
            chosen.append(officine)
        plan.invitations[email] = (chosen, rpps or _rpps)
    return plan


@transaction.atomic
def pharmacists_import_write(*, editor, plan: PharmacistPlan, actor, language: str = "fr"):
    """Apply a plan without errors: RPPS on accesses, then invitations (mails after commit)."""
    if plan.errors:
        raise ValueError("a plan with errors is never written")
    for access, rpps in plan.rpps_updates:
        before = access.rpps
        access.rpps = rpps
        access.save(update_fields=["rpps"])
        audit_record(
            action="pharmacist_access.rpps_set",
            actor=actor,
            editor=editor,
            target=access,
            details={"before": before, "after": rpps, "user": access.user.email, "via": "csv"},
        )
    for email, (officines, rpps) in plan.invitations.items():
        invitation_create(
            editor=editor,
            email=email,
            kind=InvitationKind.PHARMACIST,
            officines=officines,
            invited_by=actor,
            language=language,
            rpps=rpps,
        )
    audit_record(
        action="pharmacist.import",
        actor=actor,
        editor=editor,
        details={
            "rows": plan.rows,
            "invitations": len(plan.invitations),
            "rpps_set": len(plan.rpps_updates),
        },
    )
