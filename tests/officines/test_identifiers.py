"""Tests for officines.identifiers (plain pytest, no Django)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from officines import identifiers as ids
from officines.identifiers import (
    DEPARTMENTS,
    INSI_COMMON_NAMES,
    MESSAGES_FR,
    IdentifierError,
    check_insi_common_name,
    department_label,
    finess_department,
    finess_from_structure_identifier,
    generate_finess,
    luhn_check_digit,
    luhn_valid,
    normalize_finess,
    structure_identifier,
    validate_adeli,
    validate_card_number,
    validate_finess,
    validate_rpps,
)

VALID_FINESS = "760021832"
TEST_FINESS = ("0B0152872", "0B0221636")


def with_key(payload: str) -> str:
    """Append a Luhn key (A->1, B->2) so only the rule under test can fail."""
    return payload + luhn_check_digit(payload.replace("A", "1").replace("B", "2"))


def wrong_key(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


# --------------------------------------------------------------------------- module


def test_module_does_not_import_django() -> None:
    tree = ast.parse(Path(ids.__file__).read_text(encoding="utf-8"))
    imported: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported.append(node.module or "")
    assert not [name for name in imported if name.split(".")[0] == "django"]


def test_identifier_error_is_value_error() -> None:
    error = IdentifierError("length", "A %(x)s.", {"x": "y"})
    assert isinstance(error, ValueError)
    assert error.code == "length"
    assert error.message == str(error) == "A y."


# --------------------------------------------------------------------------- Luhn


@pytest.mark.parametrize(
    "digits, expected",
    [
        ("760021832", True),
        ("760021833", False),
        ("79927398713", True),  # classic Luhn example
        ("79927398710", False),
        ("0", True),
        ("", False),
        ("12a", False),
        ("١٢٣", False),  # non-ASCII digits
    ],
)
def test_luhn_valid(digits: str, expected: bool) -> None:
    assert luhn_valid(digits) is expected


@pytest.mark.parametrize(
    "payload, key", [("76002183", "2"), ("7992739871", "3"), ("21000001", None)]
)
def test_luhn_check_digit(payload: str, key: str | None) -> None:
    digit = luhn_check_digit(payload)
    if key is not None:
        assert digit == key
    assert luhn_valid(payload + digit)


@pytest.mark.parametrize("payload", ["", "12A", "12 3"])
def test_luhn_check_digit_rejects_non_digits(payload: str) -> None:
    with pytest.raises(ValueError):
        luhn_check_digit(payload)


# --------------------------------------------------------------------------- FINESS


@pytest.mark.parametrize(
    "raw", ["760021832", " 760021832 ", "76 002 183 2", "760\u00a0021\u00a0832", "7600218\t32"]
)
def test_valid_finess_is_normalized(raw: str) -> None:
    assert validate_finess(raw) == VALID_FINESS


def test_normalize_finess() -> None:
    assert normalize_finess(" 2a 000 001 ") == "2A000001"


def test_bad_key() -> None:
    with pytest.raises(IdentifierError) as info:
        validate_finess("760021833")
    assert info.value.code == "checksum"
    assert info.value.message_fr == (
        "La clé de contrôle du numéro FINESS est incorrecte\u00a0; vérifiez la saisie."
    )


@pytest.mark.parametrize("value, got", [("76002183", 8), ("7600218320", 10), ("", 0)])
def test_bad_length(value: str, got: int) -> None:
    with pytest.raises(IdentifierError) as info:
        validate_finess(value)
    assert info.value.code == "length"
    assert info.value.params["got"] == got
    if got == 8:
        assert str(info.value) == "A FINESS number has 9 characters (got 8)."
    assert info.value.message_fr == "Le numéro FINESS doit comporter 9 caractères."


@pytest.mark.parametrize(
    "value, code",
    [
        ("A60021832", "characters"),  # letter in 1st position
        ("76002I832", "characters"),  # letter in the body
        ("76002183X", "characters"),  # letter as key
        ("2C0000011", "characters"),  # only A/B in 2nd position
        ("97A000011", "characters"),
        ("76-021832", "characters"),
        (with_key("7A000001"), "department"),  # A/B only after 2 (or 0 in test)
        (with_key("0B015287"), "department"),  # test number in production
        (with_key("0A000001"), "department"),
    ],
)
def test_letters_in_production(value: str, code: str) -> None:
    with pytest.raises(IdentifierError) as info:
        validate_finess(value)
    assert info.value.code == code


@pytest.mark.parametrize("prefix", ["00", "20", "96", "98", "99"])
def test_bad_department(prefix: str) -> None:
    value = with_key(prefix + "000001")
    with pytest.raises(IdentifierError) as info:
        validate_finess(value)
    assert info.value.code == "department"
    assert info.value.params["department"] == prefix
    assert f"({prefix})" in info.value.message_fr


@pytest.mark.parametrize("department", ["2A", "2B"])
@pytest.mark.parametrize("serial", [0, 1, 152872 // 10, 999999])
def test_corsica(department: str, serial: int) -> None:
    finess = generate_finess(department, serial)
    assert finess.startswith(department)
    assert len(finess) == 9
    assert validate_finess(finess) == finess
    assert validate_finess(finess.lower()) == finess
    assert finess_department(finess) == department
    with pytest.raises(IdentifierError) as info:
        validate_finess(wrong_key(finess))
    assert info.value.code == "checksum"


def test_corsica_uses_a_equals_1_b_equals_2() -> None:
    # Hand-computed: 2,1,0,0,0,0,0,1 -> Luhn sum 6 -> key 4; with B=2: sum 8 -> key 2.
    assert generate_finess("2A", 1) == "2A0000014"
    assert luhn_valid("210000014")
    assert generate_finess("2B", 1) == "2B0000012"
    assert luhn_valid("220000012")


@pytest.mark.parametrize("department", ["971", "972", "973", "974", "975", "976"])
def test_overseas_valid(department: str) -> None:
    finess = generate_finess(department, 12345)
    assert finess == department + "12345" + finess[-1]
    assert validate_finess(finess) == finess
    assert finess_department(finess) == department


@pytest.mark.parametrize("payload", ["97700001", "97000001", "97900001", "98000001"])
def test_overseas_refused(payload: str) -> None:
    value = with_key(payload)
    assert luhn_valid(value)
    with pytest.raises(IdentifierError) as info:
        validate_finess(value)
    assert info.value.code == "department"


@pytest.mark.parametrize("value", TEST_FINESS)
def test_test_environment_numbers(value: str) -> None:
    assert validate_finess(value, test_environment=True) == value
    assert validate_finess(value.lower(), test_environment=True) == value
    with pytest.raises(IdentifierError) as info:
        validate_finess(value)
    assert info.value.code == "department"
    with pytest.raises(IdentifierError) as info:
        validate_finess(value, test_environment=False)
    assert info.value.code == "department"


@pytest.mark.parametrize("value", TEST_FINESS)
def test_test_environment_still_checks_key(value: str) -> None:
    with pytest.raises(IdentifierError) as info:
        validate_finess(wrong_key(value), test_environment=True)
    assert info.value.code == "checksum"


@pytest.mark.parametrize(
    "value, code",
    [
        (with_key("00000001"), "department"),
        (with_key("20000001"), "department"),
        ("0C0000011", "characters"),
        ("0B01528", "length"),
    ],
)
def test_test_environment_other_rules_apply(value: str, code: str) -> None:
    with pytest.raises(IdentifierError) as info:
        validate_finess(value, test_environment=True)
    assert info.value.code == code


def test_test_environment_accepts_production_numbers() -> None:
    assert validate_finess(VALID_FINESS, test_environment=True) == VALID_FINESS


def test_test_numbers_have_no_department() -> None:
    with pytest.raises(IdentifierError) as info:
        finess_department("0B0152872")
    assert info.value.code == "department"


@pytest.mark.parametrize("department", list(DEPARTMENTS))
def test_generate_round_trip_every_department(department: str) -> None:
    for serial in (0, 1, 42, 10 ** (8 - len(department)) - 1):
        finess = generate_finess(department, serial)
        assert len(finess) == 9
        assert validate_finess(finess) == finess
        assert finess_department(finess) == department
        assert finess_from_structure_identifier(structure_identifier(finess)) == finess


def test_generate_is_deterministic() -> None:
    assert generate_finess("76", 2183) == generate_finess("76", 2183) == "760021832"
    assert generate_finess(" 2a ", 5) == generate_finess("2A", 5)


@pytest.mark.parametrize(
    "department, serial, error",
    [
        ("20", 1, IdentifierError),
        ("977", 1, IdentifierError),
        ("0B", 1, IdentifierError),
        ("76", -1, ValueError),
        ("76", 1_000_000, ValueError),
        ("971", 100_000, ValueError),
        ("76", "1", TypeError),
        ("76", True, TypeError),
    ],
)
def test_generate_rejects(department: str, serial: object, error: type) -> None:
    with pytest.raises(error):
        generate_finess(department, serial)  # type: ignore[arg-type]


def test_finess_department() -> None:
    assert finess_department(VALID_FINESS) == "76"
    assert finess_department(" 76 002 183 2") == "76"
    with pytest.raises(IdentifierError):
        finess_department("760021833")


# --------------------------------------------------------------------------- départements


def test_departments_table() -> None:
    assert len(DEPARTMENTS) == 102  # 94 (01-95 without 20) + 2A/2B + 971-976
    assert "20" not in DEPARTMENTS
    assert "00" not in DEPARTMENTS
    expected = {f"{n:02d}" for n in range(1, 96) if n != 20}
    expected |= {"2A", "2B", "971", "972", "973", "974", "975", "976"}
    assert set(DEPARTMENTS) == expected
    codes = list(DEPARTMENTS)
    assert codes.index("19") + 1 == codes.index("2A") == codes.index("21") - 2
    assert all(name == name.strip() and name for name in DEPARTMENTS.values())


@pytest.mark.parametrize(
    "code, label",
    [
        ("69", "Rhône (69)"),
        ("2A", "Corse-du-Sud (2A)"),
        ("2a", "Corse-du-Sud (2A)"),
        ("2B", "Haute-Corse (2B)"),
        ("974", "La Réunion (974)"),
        ("975", "Saint-Pierre-et-Miquelon (975)"),
        ("01", "Ain (01)"),
        ("07", "Ardèche (07)"),
        ("13", "Bouches-du-Rhône (13)"),
        ("19", "Corrèze (19)"),
        ("21", "Côte-d'Or (21)"),
        ("22", "Côtes-d'Armor (22)"),
        ("63", "Puy-de-Dôme (63)"),
        ("64", "Pyrénées-Atlantiques (64)"),
        ("79", "Deux-Sèvres (79)"),
        ("90", "Territoire de Belfort (90)"),
        ("93", "Seine-Saint-Denis (93)"),
        ("95", "Val-d'Oise (95)"),
    ],
)
def test_department_label(code: str, label: str) -> None:
    assert department_label(code) == label


@pytest.mark.parametrize("code", ["20", "00", "96", "977", "0B", "1", ""])
def test_department_label_unknown(code: str) -> None:
    with pytest.raises(IdentifierError) as info:
        department_label(code)
    assert info.value.code == "department"


# --------------------------------------------------------------------------- structure id


def test_structure_identifier() -> None:
    assert structure_identifier(VALID_FINESS) == "1760021832"
    assert structure_identifier(" 76 002 183 2 ") == "1760021832"
    assert structure_identifier("0B0152872", test_environment=True) == "10B0152872"
    with pytest.raises(IdentifierError):
        structure_identifier("0B0152872")
    with pytest.raises(IdentifierError):
        structure_identifier("760021833")


@pytest.mark.parametrize(
    "ou, test_environment, expected",
    [
        ("1760021832", False, "760021832"),
        ("10B0152872", True, "0B0152872"),
        ("10B0152872", False, None),
        ("760021832", False, None),  # no prefix
        ("3760021832", False, None),  # SIRET-style prefix
        ("1760021833", False, None),  # bad key
        ("17600218320", False, None),  # too long
        ("10b0152872", True, None),  # certificate values are exact
        (" 1760021832", False, None),
        ("", False, None),
    ],
)
def test_finess_from_structure_identifier(
    ou: str, test_environment: bool, expected: str | None
) -> None:
    assert finess_from_structure_identifier(ou, test_environment=test_environment) == expected


# --------------------------------------------------------------------------- RPPS / ADELI


RPPS_VALID = with_key("1000123456")
ADELI_VALID = with_key("75123456")


@pytest.mark.parametrize("raw", [RPPS_VALID, f" {RPPS_VALID[:5]} {RPPS_VALID[5:]} "])
def test_rpps_valid(raw: str) -> None:
    assert len(RPPS_VALID) == 11
    assert validate_rpps(raw) == RPPS_VALID


@pytest.mark.parametrize(
    "value, code",
    [
        (wrong_key(RPPS_VALID), "checksum"),
        (RPPS_VALID[:-1], "length"),
        ("8" + RPPS_VALID, "length"),  # card form is not an RPPS
        ("1000123456A", "characters"),
        ("", "length"),
    ],
)
def test_rpps_invalid(value: str, code: str) -> None:
    with pytest.raises(IdentifierError) as info:
        validate_rpps(value)
    assert info.value.code == code
    assert "RPPS" in info.value.message_fr


def test_adeli_valid() -> None:
    assert validate_adeli(ADELI_VALID) == ADELI_VALID
    assert validate_adeli(f"{ADELI_VALID[:2]} {ADELI_VALID[2:]}") == ADELI_VALID


@pytest.mark.parametrize(
    "value, code",
    [
        (wrong_key(ADELI_VALID), "checksum"),
        (ADELI_VALID + "0", "length"),
        (ADELI_VALID[:-1], "length"),
        ("75123X560", "characters"),
    ],
)
def test_adeli_invalid(value: str, code: str) -> None:
    with pytest.raises(IdentifierError) as info:
        validate_adeli(value)
    assert info.value.code == code
    assert "ADELI" in info.value.message_fr


# --------------------------------------------------------------------------- cards


@pytest.mark.parametrize("card_type", ["CPA", "CPS", "cps"])
@pytest.mark.parametrize("raw", ["0123456789", " 01234 56789 ", "0123\u00a0456789"])
def test_card_number_valid(card_type: str, raw: str) -> None:
    assert validate_card_number(raw, card_type=card_type) == "0123456789"


@pytest.mark.parametrize(
    "value, code",
    [
        ("012345678", "length"),
        ("01234567890", "length"),
        ("", "length"),
        ("012345678A", "characters"),
        ("01234-6789", "characters"),
    ],
)
@pytest.mark.parametrize("card_type", ["CPA", "CPS"])
def test_card_number_invalid(value: str, code: str, card_type: str) -> None:
    with pytest.raises(IdentifierError) as info:
        validate_card_number(value, card_type=card_type)
    assert info.value.code == code
    assert card_type in str(info.value)
    assert f"carte {card_type}" in info.value.message_fr


def test_card_number_message() -> None:
    with pytest.raises(IdentifierError) as info:
        validate_card_number("123", card_type="CPS")
    assert str(info.value) == "A CPS card number has 10 digits (got 3)."
    assert info.value.message_fr == "Le numéro de carte CPS doit comporter 10 caractères."


def test_card_number_length_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "CARD_NUMBER_LENGTH", 12)
    assert validate_card_number("012345678901", card_type="CPA") == "012345678901"
    with pytest.raises(IdentifierError):
        validate_card_number("0123456789", card_type="CPA")


@pytest.mark.parametrize("card_type", ["", "CPE", "RPPS"])
def test_card_type_must_be_known(card_type: str) -> None:
    with pytest.raises(ValueError):
        validate_card_number("0123456789", card_type=card_type)


# --------------------------------------------------------------------------- INSi


@pytest.mark.parametrize("cn", INSI_COMMON_NAMES)
def test_insi_valid(cn: str) -> None:
    assert check_insi_common_name(cn) is None


@pytest.mark.parametrize(
    "cn, code, expected",
    [
        ("insi-auto", "insi_case", "INSI-AUTO"),
        ("Insi-Manu", "insi_case", "INSI-MANU"),
        ("INSI-auto", "insi_case", "INSI-AUTO"),
        ("INSI AUTO", "insi_space", "INSI-AUTO"),
        (" INSI-AUTO", "insi_space", "INSI-AUTO"),
        ("INSI-MANU ", "insi_space", "INSI-MANU"),
        ("INSI-MANU\n", "insi_space", "INSI-MANU"),
        ("INSI-\u00a0AUTO", "insi_unknown", None),
        ("insi manu", "insi_space", "INSI-MANU"),
        ("INSI_AUTO", "insi_unknown", None),
        ("INSIAUTO", "insi_unknown", None),
        ("INSI-AUTO-2", "insi_unknown", None),
        ("INSI", "insi_unknown", None),
        ("INSI\u2011AUTO", "insi_unknown", None),  # non-breaking hyphen
        ("Proxy DMP", "insi_unknown", None),
        ("", "insi_unknown", None),
    ],
)
def test_insi_mistakes(cn: str, code: str, expected: str | None) -> None:
    with pytest.raises(IdentifierError) as info:
        check_insi_common_name(cn)
    error = info.value
    assert error.code == code
    assert error.params["value"] == cn
    if expected is not None:
        assert error.params["expected"] == expected
        assert expected in str(error)
        assert expected in error.message_fr


def test_insi_french_messages() -> None:
    with pytest.raises(IdentifierError) as info:
        check_insi_common_name("INSI_AUTO")
    assert info.value.message_fr == (
        "Le CN d'un certificat INSi doit être exactement INSI-AUTO ou INSI-MANU, "
        "en majuscules, sans espace."
    )
    with pytest.raises(IdentifierError) as info:
        check_insi_common_name("insi-auto")
    assert info.value.message_fr == (
        "Le CN d'un certificat INSi doit être en majuscules\u00a0: INSI-AUTO."
    )
    assert "uppercase" in str(info.value)
    with pytest.raises(IdentifierError) as info:
        check_insi_common_name("INSI AUTO")
    assert "spaces" in str(info.value)


# --------------------------------------------------------------------------- messages


def test_messages_fr_cover_every_code() -> None:
    assert set(MESSAGES_FR) == {
        "length",
        "characters",
        "department",
        "checksum",
        "insi_case",
        "insi_space",
        "insi_unknown",
    }


@pytest.mark.parametrize(
    "call",
    [
        lambda: validate_finess("1"),
        lambda: validate_finess("X60021832"),
        lambda: validate_finess(with_key("00000001")),
        lambda: validate_finess("760021833"),
        lambda: validate_rpps("1"),
        lambda: validate_rpps("1234567890X"),
        lambda: validate_adeli("75123X560"),
        lambda: validate_card_number("1", card_type="CPA"),
        lambda: department_label("20"),
        lambda: check_insi_common_name("insi-auto"),
        lambda: check_insi_common_name("INSI AUTO"),
        lambda: check_insi_common_name("foo"),
    ],
)
def test_every_error_renders_in_both_languages(call) -> None:
    with pytest.raises(IdentifierError) as info:
        call()
    error = info.value
    assert error.code in MESSAGES_FR
    assert error.message == error.template % error.params
    assert "%(" not in error.message
    assert "%(" not in error.message_fr
    assert error.message_fr != error.message
