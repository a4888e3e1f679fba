"""Django-facing validators: identifier rules from `identifiers`, messages translated."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from officines import identifiers

FINESS_MESSAGES = {
    "length": _("A FINESS number has exactly 9 characters."),
    "characters": _("A FINESS number contains only digits (and A or B for Corsica)."),
    "department": _("The first characters of a FINESS number must be a French département."),
    "checksum": _("The check digit (Luhn key) of this FINESS number is wrong."),
}
CARD_MESSAGES = {
    "length": _("A card number has 10 digits."),
    "characters": _("A card number contains only digits."),
}
RPPS_MESSAGES = {
    "length": _("An RPPS number has 11 digits."),
    "characters": _("An RPPS number contains only digits."),
    "checksum": _("The check digit (Luhn key) of this RPPS number is wrong."),
}
INSI_MESSAGES = {
    "insi_case": _("An INSi certificate name must be in capitals: INSI-AUTO or INSI-MANU."),
    "insi_space": _("An INSi certificate name contains no space: INSI-AUTO or INSI-MANU."),
    "insi_unknown": _("An INSi certificate name must be exactly INSI-AUTO or INSI-MANU."),
}


def _as_validation_error(exc: identifiers.IdentifierError, messages: dict) -> ValidationError:
    return ValidationError(messages.get(exc.code, str(exc)), code=exc.code)


def finess_error(exc: identifiers.IdentifierError) -> ValidationError:
    return _as_validation_error(exc, FINESS_MESSAGES)


def validate_card_number_field(value: str) -> None:
    try:
        identifiers.validate_card_number(value, card_type="CPA")
    except identifiers.IdentifierError as exc:
        raise _as_validation_error(exc, CARD_MESSAGES) from exc


def validate_insi_common_name(value: str) -> None:
    try:
        identifiers.check_insi_common_name(value)
    except identifiers.IdentifierError as exc:
        raise _as_validation_error(exc, INSI_MESSAGES) from exc


def validate_rpps_field(value: str) -> None:
    """RPPS typed in a form or a CSV file: 11 digits and a right Luhn key."""
    try:
        identifiers.validate_rpps(value)
    except identifiers.IdentifierError as exc:
        raise _as_validation_error(exc, RPPS_MESSAGES) from exc
