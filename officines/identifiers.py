"""French health identifiers: FINESS, RPPS, ADELI, CPA/CPS cards, INSi CN.

Pure Python (no Django import) so it can be used from models, forms, scripts,
benchmarks and tests alike.

Errors are raised as :class:`IdentifierError` (a ``ValueError``) carrying:

* ``code``: a stable machine code (``length``, ``characters``, ``department``,
  ``checksum``, ``insi_case``, ``insi_space``, ``insi_unknown``);
* ``template`` / ``params``: a short English source message with ``%(name)s``
  placeholders, and its parameters. The templates are wrapped in the no-op
  :func:`gettext_noop` below so that Django's ``makemessages`` extracts them;
  the Django layer translates with
  ``ValidationError(gettext(err.template), code=err.code, params=err.params)``;
* ``message``: the rendered English message (also ``str(err)``);
* ``message_fr``: the rendered French message from :data:`MESSAGES_FR`.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ADELI_LENGTH",
    "CARD_NUMBER_LENGTH",
    "CARD_TYPES",
    "DEPARTMENTS",
    "FINESS_LENGTH",
    "INSI_COMMON_NAMES",
    "MESSAGES_FR",
    "RPPS_LENGTH",
    "STRUCTURE_PREFIX_FINESS",
    "TEST_FINESS_PREFIXES",
    "IdentifierError",
    "check_insi_common_name",
    "department_label",
    "finess_department",
    "finess_from_structure_identifier",
    "generate_finess",
    "gettext_noop",
    "luhn_check_digit",
    "luhn_valid",
    "normalize_finess",
    "structure_identifier",
    "validate_adeli",
    "validate_card_number",
    "validate_finess",
    "validate_rpps",
]

FINESS_LENGTH = 9
RPPS_LENGTH = 11
ADELI_LENGTH = 9
#: Length of a CPA/CPS card serial: "digits, 10 characters for the card serial"
#: (the ANS card rules). Read at call time, so it can be changed if that proves wrong.
CARD_NUMBER_LENGTH = 10
CARD_TYPES = ("CPA", "CPS")

#: Prefix of a FINESS in the "identifiant national de structure" (certificate OU).
STRUCTURE_PREFIX_FINESS = "1"

#: First two characters of ANS *test* FINESS numbers (accepted only in test mode).
TEST_FINESS_PREFIXES = ("0A", "0B")

#: Common names accepted by the INSi téléservice (exact, uppercase, no space).
INSI_COMMON_NAMES = ("INSI-AUTO", "INSI-MANU")

_DIGITS = frozenset("0123456789")


def gettext_noop(message: str) -> str:
    """Mark ``message`` for translation extraction without translating it."""
    return message


# ---------------------------------------------------------------------------
# Errors and messages
# ---------------------------------------------------------------------------

#: French messages by error code. They are %-templates using the error's
#: ``params`` (``label_fr``, ``expected``, ``allowed_fr``, ``department``...);
#: use ``IdentifierError.message_fr`` to render one.
MESSAGES_FR: dict[str, str] = {
    "length": "Le %(label_fr)s doit comporter %(expected)d caractères.",
    "characters": "Le %(label_fr)s ne doit contenir que %(allowed_fr)s.",
    "department": (
        "Code de département invalide (%(department)s)\u00a0: les codes admis "
        "sont 01 à 95 (sauf 20), 2A, 2B et 971 à 976."
    ),
    "checksum": ("La clé de contrôle du %(label_fr)s est incorrecte\u00a0; vérifiez la saisie."),
    "insi_case": ("Le CN d'un certificat INSi doit être en majuscules\u00a0: %(expected)s."),
    "insi_space": ("Le CN d'un certificat INSi ne doit contenir aucun espace\u00a0: %(expected)s."),
    "insi_unknown": (
        "Le CN d'un certificat INSi doit être exactement INSI-AUTO ou "
        "INSI-MANU, en majuscules, sans espace."
    ),
}

# French noun phrases used in MESSAGES_FR ("Le numéro FINESS ...").
_LABELS_FR = {
    "FINESS": "numéro FINESS",
    "RPPS": "numéro RPPS",
    "ADELI": "numéro ADELI",
    "CPA": "numéro de carte CPA",
    "CPS": "numéro de carte CPS",
    "INSI": "CN INSi",
    "DEPARTMENT": "code de département",
}


class IdentifierError(ValueError):
    """An identifier failed validation; ``code`` says why."""

    code: str
    template: str
    params: dict[str, object]
    message: str

    def __init__(
        self,
        code: str,
        template: str,
        params: Mapping[str, object] | None = None,
    ) -> None:
        self.code = code
        self.template = template
        self.params = dict(params or {})
        self.message = template % self.params
        super().__init__(self.message)

    @property
    def message_fr(self) -> str:
        """The French message for this error (falls back to English)."""
        template = MESSAGES_FR.get(self.code)
        if template is None:
            return self.message
        try:
            return template % self.params
        except (KeyError, TypeError, ValueError):
            return self.message


def _error(code: str, template: str, identifier: str, **params: object) -> IdentifierError:
    params.setdefault("identifier", identifier)
    params.setdefault("label_fr", _LABELS_FR.get(identifier, identifier))
    return IdentifierError(code, template, params)


def _compact(value: str) -> str:
    """Remove every whitespace character (spaces, tabs, no-break spaces)."""
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    return "".join(value.split())


def _is_digits(value: str) -> bool:
    return bool(value) and all(ch in _DIGITS for ch in value)


# ---------------------------------------------------------------------------
# Luhn
# ---------------------------------------------------------------------------


def _luhn_sum(digits: str) -> int:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total


def luhn_valid(digits: str) -> bool:
    """True if ``digits`` (ASCII digits only, key last) passes the Luhn check."""
    if not isinstance(digits, str) or not _is_digits(digits):
        return False
    return _luhn_sum(digits) % 10 == 0


def luhn_check_digit(payload: str) -> str:
    """The Luhn key to append to ``payload`` (ASCII digits) to make it valid."""
    if not isinstance(payload, str) or not _is_digits(payload):
        raise ValueError(f"Luhn payload must be ASCII digits, got {payload!r}")
    return str((10 - _luhn_sum(payload + "0") % 10) % 10)


# ---------------------------------------------------------------------------
# Départements
# ---------------------------------------------------------------------------

#: Département code -> name (INSEE spelling). No "20"; Corsica is 2A/2B.
DEPARTMENTS: dict[str, str] = {
    "01": "Ain",
    "02": "Aisne",
    "03": "Allier",
    "04": "Alpes-de-Haute-Provence",
    "05": "Hautes-Alpes",
    "06": "Alpes-Maritimes",
    "07": "Ardèche",
    "08": "Ardennes",
    "09": "Ariège",
    "10": "Aube",
    "11": "Aude",
    "12": "Aveyron",
    "13": "Bouches-du-Rhône",
    "14": "Calvados",
    "15": "Cantal",
    "16": "Charente",
    "17": "Charente-Maritime",
    "18": "Cher",
    "19": "Corrèze",
    "2A": "Corse-du-Sud",
    "2B": "Haute-Corse",
    "21": "Côte-d'Or",
    "22": "Côtes-d'Armor",
    "23": "Creuse",
    "24": "Dordogne",
    "25": "Doubs",
    "26": "Drôme",
    "27": "Eure",
    "28": "Eure-et-Loir",
    "29": "Finistère",
    "30": "Gard",
    "31": "Haute-Garonne",
    "32": "Gers",
    "33": "Gironde",
    "34": "Hérault",
    "35": "Ille-et-Vilaine",
    "36": "Indre",
    "37": "Indre-et-Loire",
    "38": "Isère",
    "39": "Jura",
    "40": "Landes",
    "41": "Loir-et-Cher",
    "42": "Loire",
    "43": "Haute-Loire",
    "44": "Loire-Atlantique",
    "45": "Loiret",
    "46": "Lot",
    "47": "Lot-et-Garonne",
    "48": "Lozère",
    "49": "Maine-et-Loire",
    "50": "Manche",
    "51": "Marne",
    "52": "Haute-Marne",
    "53": "Mayenne",
    "54": "Meurthe-et-Moselle",
    "55": "Meuse",
    "56": "Morbihan",
    "57": "Moselle",
    "58": "Nièvre",
    "59": "Nord",
    "60": "Oise",
    "61": "Orne",
    "62": "Pas-de-Calais",
    "63": "Puy-de-Dôme",
    "64": "Pyrénées-Atlantiques",
    "65": "Hautes-Pyrénées",
    "66": "Pyrénées-Orientales",
    "67": "Bas-Rhin",
    "68": "Haut-Rhin",
    "69": "Rhône",
    "70": "Haute-Saône",
    "71": "Saône-et-Loire",
    "72": "Sarthe",
    "73": "Savoie",
    "74": "Haute-Savoie",
    "75": "Paris",
    "76": "Seine-Maritime",
    "77": "Seine-et-Marne",
    "78": "Yvelines",
    "79": "Deux-Sèvres",
    "80": "Somme",
    "81": "Tarn",
    "82": "Tarn-et-Garonne",
    "83": "Var",
    "84": "Vaucluse",
    "85": "Vendée",
    "86": "Vienne",
    "87": "Haute-Vienne",
    "88": "Vosges",
    "89": "Yonne",
    "90": "Territoire de Belfort",
    "91": "Essonne",
    "92": "Hauts-de-Seine",
    "93": "Seine-Saint-Denis",
    "94": "Val-de-Marne",
    "95": "Val-d'Oise",
    "971": "Guadeloupe",
    "972": "Martinique",
    "973": "Guyane",
    "974": "La Réunion",
    "975": "Saint-Pierre-et-Miquelon",
    "976": "Mayotte",
}

_OVERSEAS_PREFIX = "97"


def _department_error(code: str) -> IdentifierError:
    return _error(
        "department",
        gettext_noop(
            'Invalid département code "%(department)s" '
            "(expected 01-95 except 20, 2A, 2B or 971-976)."
        ),
        "DEPARTMENT",
        department=code,
    )


def department_label(code: str) -> str:
    """Display label of a département code, e.g. ``"Rhône (69)"``."""
    normalized = _compact(code).upper()
    name = DEPARTMENTS.get(normalized)
    if name is None:
        raise _department_error(normalized)
    return f"{name} ({normalized})"


# ---------------------------------------------------------------------------
# FINESS
# ---------------------------------------------------------------------------


def _finess_luhn_digits(value: str) -> str:
    """Map a FINESS (or FINESS payload) to the digit string the Luhn runs on.

    UNCONFIRMED: Corsican numbers (2A/2B) and ANS test numbers
    (0A/0B) are checked with ``A`` -> 1 and ``B`` -> 2. The ANS test numbers
    0B0152872 and 0B0221636 pass only this way. Keep this mapping here only.
    """
    return value.replace("A", "1").replace("B", "2")


def normalize_finess(value: str) -> str:
    """Remove all whitespace and uppercase (``" 2a 000 001 "`` -> ``"2A000001"``)."""
    return _compact(value).upper()


def _finess_department_code(finess: str) -> str:
    """Département part of a well-formed FINESS (2 or 3 characters)."""
    if finess.startswith(_OVERSEAS_PREFIX):
        return finess[:3]
    return finess[:2]


def validate_finess(value: str, *, test_environment: bool = False) -> str:
    """Return the normalized FINESS or raise :class:`IdentifierError`.

    Checks, in order: ``length`` (9), ``characters`` (digits, ``A``/``B``
    allowed in 2nd position only), ``department`` (01-95 but not 20, 2A/2B,
    971-976; plus 0A/0B when ``test_environment``), ``checksum`` (Luhn).
    """
    finess = normalize_finess(value)
    if len(finess) != FINESS_LENGTH:
        raise _error(
            "length",
            gettext_noop("A FINESS number has %(expected)d characters (got %(got)d)."),
            "FINESS",
            expected=FINESS_LENGTH,
            got=len(finess),
        )
    if not (
        finess[0] in _DIGITS
        and (finess[1] in _DIGITS or finess[1] in "AB")
        and _is_digits(finess[2:])
    ):
        raise _error(
            "characters",
            gettext_noop(
                "A FINESS number contains only digits, except A or B in "
                "2nd position (Corsica: 2A, 2B)."
            ),
            "FINESS",
            allowed_fr="des chiffres (A ou B admis en 2e position pour la Corse)",
            value=finess,
        )
    department = _finess_department_code(finess)
    if department not in DEPARTMENTS and not (
        test_environment and finess[:2] in TEST_FINESS_PREFIXES
    ):
        raise _department_error(department)
    if not luhn_valid(_finess_luhn_digits(finess)):
        raise _error(
            "checksum",
            gettext_noop("The check digit of this FINESS number is wrong."),
            "FINESS",
            value=finess,
        )
    return finess


def finess_department(finess: str) -> str:
    """Département code of a (production) FINESS: ``"760021832"`` -> ``"76"``.

    The FINESS is fully validated first. ANS test numbers (0A/0B) carry no
    département and raise ``IdentifierError`` with code ``department``.
    """
    return _finess_department_code(validate_finess(finess))


def generate_finess(department: str, serial: int) -> str:
    """Deterministic valid FINESS: département + zero-padded serial + Luhn key.

    ``serial`` fills the 6 (metropolitan, Corsica) or 5 (971-976) middle digits.
    """
    code = _compact(department).upper()
    if code not in DEPARTMENTS:
        raise _department_error(code)
    width = FINESS_LENGTH - 1 - len(code)
    if isinstance(serial, bool) or not isinstance(serial, int):
        raise TypeError(f"serial must be an int, got {type(serial).__name__}")
    if not 0 <= serial < 10**width:
        raise ValueError(f"serial must be in 0..{10**width - 1} for département {code}")
    payload = f"{code}{serial:0{width}d}"
    return payload + luhn_check_digit(_finess_luhn_digits(payload))


def structure_identifier(finess: str, *, test_environment: bool = False) -> str:
    """Identifiant national de structure of an officine: ``"1" + FINESS``.

    This is the value carried in the certificate OU (e.g. ``"1760021832"``).
    """
    return STRUCTURE_PREFIX_FINESS + validate_finess(finess, test_environment=test_environment)


def finess_from_structure_identifier(ou: str, *, test_environment: bool = False) -> str | None:
    """FINESS inside a structure identifier ``"1" + FINESS``, else ``None``.

    ``ou`` is taken as is (certificate values are exact). The FINESS part must
    be valid; pass ``test_environment=True`` for test certificates (0A/0B).
    """
    if not isinstance(ou, str):
        return None
    if len(ou) != 1 + FINESS_LENGTH or not ou.startswith(STRUCTURE_PREFIX_FINESS):
        return None
    finess = ou[1:]
    if finess != finess.upper():
        return None
    try:
        return validate_finess(finess, test_environment=test_environment)
    except IdentifierError:
        return None


# ---------------------------------------------------------------------------
# RPPS, ADELI, cards
# ---------------------------------------------------------------------------


def validate_rpps(value: str) -> str:
    """Return the RPPS (11 digits, Luhn key) without whitespace, or raise.

    The card form ``"8" + RPPS`` is not accepted here.
    """
    rpps = _compact(value)
    if len(rpps) != RPPS_LENGTH:
        raise _error(
            "length",
            gettext_noop("An RPPS number has %(expected)d digits (got %(got)d)."),
            "RPPS",
            expected=RPPS_LENGTH,
            got=len(rpps),
        )
    if not _is_digits(rpps):
        raise _error(
            "characters",
            gettext_noop("An RPPS number contains only digits."),
            "RPPS",
            allowed_fr="des chiffres",
            value=rpps,
        )
    if not luhn_valid(rpps):
        raise _error(
            "checksum",
            gettext_noop("The check digit of this RPPS number is wrong."),
            "RPPS",
            value=rpps,
        )
    return rpps


def validate_adeli(value: str) -> str:
    """Return the ADELI number (9 digits, Luhn key) without whitespace, or raise.

    Only digits are accepted: Corsican ADELI letters are not confirmed.
    """
    adeli = _compact(value).upper()
    if len(adeli) != ADELI_LENGTH:
        raise _error(
            "length",
            gettext_noop("An ADELI number has %(expected)d characters (got %(got)d)."),
            "ADELI",
            expected=ADELI_LENGTH,
            got=len(adeli),
        )
    if not _is_digits(adeli):
        raise _error(
            "characters",
            gettext_noop("An ADELI number contains only digits."),
            "ADELI",
            allowed_fr="des chiffres",
            value=adeli,
        )
    if not luhn_valid(adeli):
        raise _error(
            "checksum",
            gettext_noop("The check digit of this ADELI number is wrong."),
            "ADELI",
            value=adeli,
        )
    return adeli


def validate_card_number(value: str, *, card_type: str) -> str:
    """Return a CPA/CPS card serial (``CARD_NUMBER_LENGTH`` digits), or raise.

    Whitespace is removed. No check key is verified (none is documented).
    ``card_type`` must be ``"CPA"`` or ``"CPS"`` (``ValueError`` otherwise).
    """
    kind = card_type.strip().upper() if isinstance(card_type, str) else card_type
    if kind not in CARD_TYPES:
        raise ValueError(f"card_type must be one of {CARD_TYPES}, got {card_type!r}")
    number = _compact(value)
    expected = CARD_NUMBER_LENGTH
    if len(number) != expected:
        raise _error(
            "length",
            gettext_noop("A %(card_type)s card number has %(expected)d digits (got %(got)d)."),
            kind,
            card_type=kind,
            expected=expected,
            got=len(number),
        )
    if not _is_digits(number):
        raise _error(
            "characters",
            gettext_noop("A %(card_type)s card number contains only digits."),
            kind,
            card_type=kind,
            allowed_fr="des chiffres",
            value=number,
        )
    return number


# ---------------------------------------------------------------------------
# INSi common name
# ---------------------------------------------------------------------------


def check_insi_common_name(cn: str) -> None:
    """Raise :class:`IdentifierError` unless ``cn`` is exactly INSI-AUTO/INSI-MANU.

    Codes: ``insi_space`` (any whitespace, e.g. ``"INSI AUTO"``,
    ``" INSI-AUTO"``), ``insi_case`` (e.g. ``"insi-auto"``), ``insi_unknown``
    (anything else). ``params["expected"]`` holds the likely intended name.
    """
    if not isinstance(cn, str):
        raise TypeError(f"expected str, got {type(cn).__name__}")
    if cn in INSI_COMMON_NAMES:
        return
    if any(ch.isspace() for ch in cn):
        suggestion = "-".join(cn.split()).upper()
        if suggestion in INSI_COMMON_NAMES:
            raise _error(
                "insi_space",
                gettext_noop(
                    "The CN of an INSi certificate must not contain spaces: "
                    '%(expected)s (got "%(value)s").'
                ),
                "INSI",
                expected=suggestion,
                value=cn,
            )
    elif cn.upper() in INSI_COMMON_NAMES:
        raise _error(
            "insi_case",
            gettext_noop(
                'The CN of an INSi certificate must be uppercase: %(expected)s (got "%(value)s").'
            ),
            "INSI",
            expected=cn.upper(),
            value=cn,
        )
    raise _error(
        "insi_unknown",
        gettext_noop(
            "The CN of an INSi certificate must be exactly INSI-AUTO or "
            'INSI-MANU (got "%(value)s").'
        ),
        "INSI",
        expected=" / ".join(INSI_COMMON_NAMES),
        value=cn,
    )
