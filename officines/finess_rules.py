"""What the FINESS referential says about a number given for a new officine (form, CSV, API).

- an open établissement of category 620 (Pharmacie d'Officine): its raison sociale, address,
  département and FINESS juridique fill the fields left blank; the others stay as typed and
  the differences are shown;
- a FINESS juridique: refused, with the géographique numbers under it;
- absent, closed, or another category: a warning the user must confirm (the extract lags
  behind new openings), never a block;
- no referential loaded: nothing, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.utils.formats import date_format
from django.utils.translation import gettext as _

from finess import selectors
from finess.compare import normalize
from finess.models import Etablissement
from officines import identifiers

NOT_LOADED = "not_loaded"
OFFICINE = "officine"
JURIDIQUE = "juridique"
ABSENT = "absent"
CLOSED = "closed"
OTHER_CATEGORY = "other_category"

# Officine field -> how the referential's value is read.
FILLED_FIELDS = (
    "raison_sociale",
    "address",
    "postal_code",
    "city",
    "department",
    "finess_juridique",
)


@dataclass
class FinessLookup:
    finess: str
    kind: str
    data_date: date | None = None
    etablissement: Etablissement | None = None
    children: list[str] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return self.kind == JURIDIQUE

    @property
    def needs_confirmation(self) -> bool:
        return self.kind in (ABSENT, CLOSED, OTHER_CATEGORY)

    @property
    def fills(self) -> bool:
        return self.kind == OFFICINE

    def message(self) -> str:
        extract = (
            _("FINESS extract of %(date)s") % {"date": date_format(self.data_date)}
            if self.data_date
            else _("FINESS extract")
        )
        etab = self.etablissement
        if self.kind == JURIDIQUE:
            numbers = ", ".join(self.children) or "—"
            return _(
                "%(finess)s is a FINESS juridique (legal entity): give the FINESS géographique "
                "of the officine. Géographique numbers under it: %(numbers)s."
            ) % {"finess": self.finess, "numbers": numbers}
        if self.kind == ABSENT:
            return _(
                "%(finess)s is not in the %(extract)s. Check the number; if the officine opened "
                "recently, confirm to register it anyway."
            ) % {"finess": self.finess, "extract": extract}
        if self.kind == CLOSED:
            return _(
                "%(finess)s (%(name)s) is closed in the %(extract)s. Confirm to register it anyway."
            ) % {"finess": self.finess, "name": etab.raison_sociale, "extract": extract}
        if self.kind == OTHER_CATEGORY:
            return _(
                "%(finess)s (%(name)s) is not a pharmacie d'officine in the %(extract)s "
                "(category %(category)s). Confirm to register it anyway."
            ) % {
                "finess": self.finess,
                "name": etab.raison_sociale,
                "extract": extract,
                "category": f"{etab.category} {etab.category_label}".strip(),
            }
        return ""


def referential_values(etab: Etablissement) -> dict[str, str]:
    """The officine fields as the referential has them."""
    return {
        "raison_sociale": etab.raison_sociale_longue or etab.raison_sociale,
        "address": etab.address,
        "postal_code": etab.postal_code,
        "city": etab.city.title() if etab.city.isupper() else etab.city,
        "department": department_of(etab),
        "finess_juridique": etab.finess_juridique,
    }


def department_of(etab: Etablissement) -> str:
    """The officine département code of an établissement (file code, else its postal code)."""
    code = etab.department.strip().upper()
    if code in identifiers.DEPARTMENTS:
        return code
    postal = etab.postal_code
    if len(postal) == 5 and postal.isdigit():
        if postal.startswith("97"):
            code = postal[:3]
        elif postal.startswith("20"):
            code = "2A" if int(postal) < 20200 else "2B"
        else:
            code = postal[:2]
        if code in identifiers.DEPARTMENTS:
            return code
    return ""


def finess_lookups(numbers: Iterable[str]) -> dict[str, FinessLookup]:
    """The verdict for each number; 3 queries at most per 1,000 numbers, whatever the count."""
    numbers = [n for n in dict.fromkeys(numbers) if n]
    if not numbers:
        return {}
    state = selectors.referential_state()
    if not state.loaded:
        return {n: FinessLookup(n, NOT_LOADED) for n in numbers}
    found = selectors.etablissements(numbers)
    children = selectors.juridiques([n for n in numbers if n not in found])
    lookups = {}
    for number in numbers:
        etab = found.get(number)
        if etab is None:
            kind = JURIDIQUE if number in children else ABSENT
        elif not etab.is_open:
            kind = CLOSED
        elif not selectors.is_officine(etab):
            kind = OTHER_CATEGORY
        else:
            kind = OFFICINE
        lookups[number] = FinessLookup(
            finess=number,
            kind=kind,
            data_date=state.data_date,
            etablissement=etab,
            children=children.get(number, []),
        )
    return lookups


def finess_lookup(number: str) -> FinessLookup:
    number = identifiers.normalize_finess(number or "")
    return finess_lookups([number]).get(number) or FinessLookup(number, NOT_LOADED)


def fill_blanks(officine, lookup: FinessLookup) -> list[str]:
    """Fill the officine's blank fields from a category 620 établissement; the names filled."""
    if not lookup.fills:
        return []
    filled = []
    for name, value in referential_values(lookup.etablissement).items():
        if value and not getattr(officine, name):
            setattr(officine, name, value)
            filled.append(name)
    return filled


def differences(officine, lookup: FinessLookup) -> list[dict[str, str]]:
    """[{field, label, officine, referential}] where the given values differ from FINESS."""
    if lookup.etablissement is None:
        return []
    rows = []
    for name, value in referential_values(lookup.etablissement).items():
        given = getattr(officine, name, "") or ""
        if value and given and normalize(given) != normalize(value):
            rows.append(
                {
                    "field": name,
                    "label": str(type(officine)._meta.get_field(name).verbose_name),
                    "officine": given,
                    "referential": value,
                }
            )
    return rows
