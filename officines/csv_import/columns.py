"""The columns of the officines CSV: accepted header spellings, labels, template, header mapping."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from officines.csv_import.reading import CsvFileError, normalize_header, read_rows
from officines.models import Officine

ADMINISTRATOR_CARD = "administrator_card"

# Column key -> accepted header spellings (compared after `normalize_header`).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "finess": ("finess", "finess geographique", "finess geo", "numero finess", "finess et"),
    "finess_juridique": ("finess juridique", "finess ej", "finess entite juridique"),
    "raison_sociale": ("raison sociale", "denomination", "nom"),
    "address": ("adresse", "address", "adresse postale", "rue"),
    "postal_code": ("code postal", "cp", "postal code", "zip"),
    "city": ("ville", "commune", "city", "localite"),
    "notification_email": (
        "e mail de notification",
        "email de notification",
        "e mail notification",
        "email notification",
        "notification e mail",
        "notification email",
        "courriel de notification",
        "courriel",
        "e mail",
        "email",
    ),
    "cc_email": (
        "e mail en copie",
        "email en copie",
        "e mail cc",
        "email cc",
        "cc e mail",
        "cc email",
        "cc",
        "copie",
        "e mail d une personne a informer",
        "email d une personne a informer",
        "personne a informer",
        "person to inform",
        "person to inform e mail",
    ),
    "delegation_mode": ("mode de delegation", "delegation mode", "delegation", "mode"),
    ADMINISTRATOR_CARD: (
        "carte de l administrateur technique",
        "carte administrateur technique",
        "numero de carte de l administrateur technique",
        "numero de carte administrateur technique",
        "carte de l administrateur",
        "carte cpa",
        "carte cps",
        "numero de carte",
        "carte",
        "administrator card",
        "card number",
        "technical administrator card number",
        "technical administrator s card number",
    ),
}
REQUIRED_COLUMNS = ("finess", "raison_sociale")

# Header written in the template and in exports, in this order.
TEMPLATE_HEADER = (
    "FINESS géographique",
    "FINESS juridique",
    "Raison sociale",
    "Adresse",
    "Code postal",
    "Ville",
    "E-mail de notification",
    "E-mail en copie",
    "Mode de délégation",
    "Carte de l'administrateur technique",
)

# Fields an import may change on an existing officine.
MODEL_FIELDS = (
    "finess_juridique",
    "raison_sociale",
    "address",
    "postal_code",
    "city",
    "notification_email",
    "cc_email",
    "delegation_mode",
)


def column_label(key: str) -> str:
    """The (translated) name of a column, for error tables and headers."""
    if key == ADMINISTRATOR_CARD:
        return str(gettext_lazy("technical administrator's card number"))
    if key in ("", "row"):
        return str(gettext_lazy("row"))
    return str(Officine._meta.get_field(key).verbose_name)


_HEADER_LOOKUP = {
    alias: key
    for key, aliases in COLUMN_ALIASES.items()
    for alias in (*aliases, normalize_header(key))
}


@dataclass
class ParsedFile:
    columns: list[str | None]  # column key per position, None when ignored
    ignored_columns: list[str]
    rows: list[tuple[int, list[str]]]  # (line number, cells)


def parse_csv(text: str) -> ParsedFile:
    """Split the file into a mapped header and data rows; raise `CsvFileError` on a bad header."""
    header, rows = read_rows(text)
    columns: list[str | None] = []
    ignored: list[str] = []
    for name in header:
        key = _HEADER_LOOKUP.get(normalize_header(name))
        if key is not None and key in columns:
            raise CsvFileError(_("The column “%(name)s” appears twice.") % {"name": name.strip()})
        if key is None and name.strip():
            ignored.append(name.strip())
        columns.append(key)
    missing = [key for key in REQUIRED_COLUMNS if key not in columns]
    if missing:
        raise CsvFileError(
            _(
                "Missing column(s): %(missing)s. The first line must name the columns, "
                "for example: %(expected)s."
            )
            % {
                "missing": ", ".join(column_label(key) for key in missing),
                "expected": "; ".join(TEMPLATE_HEADER),
            }
        )
    if not rows:
        raise CsvFileError(_("The file has a header but no officine."))
    return ParsedFile(columns=columns, ignored_columns=ignored, rows=rows)


def template_rows() -> Iterable[list[str]]:
    """Header and one example row for the downloadable template."""
    yield list(TEMPLATE_HEADER)
    yield [
        "760021832",
        "",
        "PHARMACIE DU VIEUX MARCHÉ",
        "12 place du Vieux-Marché",
        "76000",
        "Rouen",
        "officine@example.fr",
        "",
        "editeur",
        "",
    ]
