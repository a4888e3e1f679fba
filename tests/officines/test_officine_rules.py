"""Officine validation through the service: clear field errors, nothing saved on error."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from officines.models import Officine
from officines.services import officine_save
from tests.factories import EditorFactory, OfficineFactory

pytestmark = pytest.mark.django_db


def build(editor, **fields) -> Officine:
    values = {
        "editor": editor,
        "finess": "760021832",
        "raison_sociale": "PHARMACIE DE LA SEINE",
        "city": "Rouen",
    }
    values.update(fields)
    return Officine(**values)


@pytest.mark.parametrize(
    ("finess", "department"),
    [
        ("760021832", "76"),
        (" 760 021 832 ", "76"),
        ("2A0001004", "2A"),
        ("2B0000006", "2B"),
        ("970000006", None),
    ],
)
def test_valid_finess_is_saved_with_its_departement(finess, department):
    from officines import identifiers

    if department is None:  # overseas: build a real 974 number
        finess = identifiers.generate_finess("974", 42)
        department = "974"
    if department in ("2A", "2B"):
        finess = identifiers.generate_finess(department, int(finess[3:8]))
    officine = officine_save(officine=build(EditorFactory(), finess=finess))
    officine.refresh_from_db()
    assert officine.finess == identifiers.normalize_finess(finess)
    assert officine.department == department


@pytest.mark.parametrize(
    ("finess", "code"),
    [
        ("760021833", "checksum"),
        ("76002183", "length"),
        ("7600218320", "length"),
        ("0B0152872", "characters"),
        ("200000006", "department"),
        ("980000006", "department"),
    ],
)
def test_invalid_finess_is_refused_and_nothing_saved(finess, code):
    editor = EditorFactory()
    with pytest.raises(ValidationError) as exc:
        officine_save(officine=build(editor, finess=finess))
    assert "finess" in exc.value.error_dict
    assert exc.value.error_dict["finess"][0].code in (
        code,
        "max_length",
        "department",
        "characters",
    )
    assert not Officine.objects.exists()


def test_corsica_with_wrong_key_is_refused():
    from officines import identifiers

    good = identifiers.generate_finess("2A", 123)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    with pytest.raises(ValidationError):
        officine_save(officine=build(EditorFactory(), finess=bad))


def test_test_environment_accepts_ans_test_finess_with_given_departement():
    officine = officine_save(
        officine=build(EditorFactory(), finess="0B0152872", environment="test", department="69")
    )
    assert officine.structure_identifier == "10B0152872"
    assert officine.department_label == "Rhône (69)"


def test_test_finess_needs_a_departement():
    with pytest.raises(ValidationError) as exc:
        officine_save(officine=build(EditorFactory(), finess="0B0152872", environment="test"))
    assert "department" in exc.value.error_dict


def test_finess_is_unique_per_editor_but_not_across_editors():
    first = OfficineFactory(finess="760021832")
    with pytest.raises(ValidationError) as exc:
        officine_save(officine=build(first.editor, finess="760021832"))
    assert "__all__" in exc.value.error_dict or "finess" in exc.value.error_dict
    other = officine_save(officine=build(EditorFactory(), finess="760021832"))
    assert other.pk != first.pk
    assert Officine.objects.count() == 2


def test_error_messages_follow_the_language():
    editor = EditorFactory()
    messages = {}
    for language in ("fr", "en"):
        with translation.override(language):
            with pytest.raises(ValidationError) as exc:
                officine_save(officine=build(editor, finess="760021833"))
            messages[language] = exc.value.error_dict["finess"][0].messages[0]
    french, english = messages["fr"], messages["en"]
    assert "clé" in french.lower() or "contrôle" in french.lower()
    assert "check digit" in english
