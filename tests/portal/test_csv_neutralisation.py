"""CSV cells that a spreadsheet would run as a formula are made text (CSV injection).

Full-width = + - @ and a leading | were let through (issue 12, finding 13).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.csv_stream import spreadsheet_cell
from tests.factories import OfficineFactory

FULL_WIDTH = ["\uff1dHYPERLINK(1)", "\uff0b1", "\uff0d1", "\uff20SUM(A1)", "\uff5cx", "|calc!A0"]


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", *FULL_WIDTH])
def test_formula_starts_become_text(value):
    assert spreadsheet_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["PHARMACIE", "1 rue de la Paix", "a=b", "", None, 12])
def test_ordinary_cells_are_unchanged(value):
    assert spreadsheet_cell(value) == ("" if value is None else str(value))


@pytest.mark.django_db
def test_officine_export_neutralises_a_full_width_formula(tenant_a, client_for):
    OfficineFactory(editor=tenant_a.editor, raison_sociale='\uff1dHYPERLINK("x")')
    response = client_for(tenant_a.admin).get(reverse("officines:export"))
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "'\uff1dHYPERLINK" in body
