"""Loading FINESS files in the published layouts: CSV extract (Latin-1, UTF-8) and FiNESS+ JSON;
wrong layouts and truncated files are refused and leave the referential as it was."""

from __future__ import annotations

import gzip
import json
from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from finess import selectors
from finess.models import Etablissement, Refresh, RefreshKind, RefreshStatus
from finess.samples import Site, csv_bytes, json_bytes, json_document, structureet_line
from finess.services import referential_import
from finess.tasks import refresh_referential

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


EXTRACTED = date(2026, 5, 12)


def sites() -> list[Site]:
    return [
        Site("690001003", "690005001", "PHARMACIE DE LA PLACE", street="BELLECOUR"),
        Site("690001011", "690005001", "PHARMACIE SAINT-ÉLOI", number="12", street_type="AV"),
        Site("010000024", "010780054", "CH DE FLEYRIAT", category="355", department="01"),
        Site("750001006", "750005008", "LABORATOIRE DES HALLES", category="611", department="75"),
        Site(
            "690001029",
            "690005019",
            "PHARMACIE FERMÉE",
            is_open=False,
            closed_on=date(2025, 9, 30),
        ),
    ]


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def load(path, **kwargs) -> Refresh:
    return referential_import(source=str(path), **kwargs)


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8"])
def test_csv_extract_loads_every_category_with_its_date(tmp_path, encoding):
    path = write(
        tmp_path,
        "etalab-cs1100507-stock.csv",
        csv_bytes(sites(), extracted=EXTRACTED, encoding=encoding),
    )
    refresh = load(path)
    assert refresh.status == RefreshStatus.DONE, refresh.message
    assert (refresh.kind, refresh.file_format, refresh.data_date) == ("full", "csv", EXTRACTED)
    # The published extract lists open établissements only: the closed one is not in it.
    assert refresh.loaded == refresh.total == 4
    eloi = Etablissement.objects.get(pk="690001011")
    assert eloi.raison_sociale == "PHARMACIE SAINT-ÉLOI"  # accents read in both encodings
    assert (eloi.finess_juridique, eloi.category, eloi.address) == (
        "690005001",
        "620",
        "12 AV DE LA REPUBLIQUE",
    )
    assert (eloi.postal_code, eloi.city, eloi.department) == ("69003", "LYON", "69")
    assert Etablissement.objects.get(pk="010000024").category_label == "Centre Hospitalier (C.H.)"
    state = selectors.referential_state()
    assert state.loaded and state.data_date == EXTRACTED


def test_json_flow_is_validated_streamed_and_keeps_closed_etablissements(tmp_path):
    path = write(tmp_path, "complet-finess-structures-20260309.json", json_bytes(sites()))
    refresh = load(path)
    assert refresh.status == RefreshStatus.DONE, refresh.message
    assert (refresh.kind, refresh.file_format, refresh.data_date) == (
        "full",
        "json",
        date(2026, 3, 9),
    )
    assert refresh.loaded == 5
    closed = Etablissement.objects.get(pk="690001029")
    assert not closed.is_open and closed.closed_on == date(2025, 9, 30)
    assert selectors.juridiques(["690005001"]) == {"690005001": ["690001003", "690001011"]}


def test_full_file_replaces_the_referential(tmp_path):
    load(write(tmp_path, "a.csv", csv_bytes(sites(), extracted=EXTRACTED)))
    renamed = sites()
    renamed[0].name = "PHARMACIE BELLECOUR"
    renamed[3] = Site("690001045", "690005035", "PHARMACIE OUVERTE EN JUIN")  # the lab vanished
    refresh = load(write(tmp_path, "b.csv", csv_bytes(renamed, extracted=date(2026, 6, 12))))
    assert refresh.status == RefreshStatus.DONE, refresh.message
    assert not Etablissement.objects.filter(pk="750001006").exists()
    assert Etablissement.objects.get(pk="690001003").raison_sociale == "PHARMACIE BELLECOUR"
    assert selectors.referential_state().data_date == date(2026, 6, 12)


def test_daily_file_updates_only_the_etablissements_it_contains(tmp_path):
    load(write(tmp_path, "complet.json", json_bytes(sites())))
    daily = [
        Site(
            "690001003",
            "690005001",
            "PHARMACIE DE LA PLACE",
            is_open=False,
            closed_on=date(2026, 3, 10),
        )
    ]
    daily.append(Site("690001037", "690005027", "PHARMACIE NOUVELLE"))
    refresh = load(
        write(
            tmp_path,
            "finess-structures-journalier-20260310.json",
            json_bytes(daily, generated="2026-03-10T04:00:00Z"),
        )
    )
    assert refresh.status == RefreshStatus.DONE, refresh.message
    assert refresh.kind == RefreshKind.DAILY
    assert refresh.total == 6  # 5 kept, 1 new
    assert not Etablissement.objects.get(pk="690001003").is_open
    assert Etablissement.objects.get(pk="010000024").is_open  # untouched
    assert selectors.referential_state().data_date == date(2026, 3, 10)


def refused(path, **kwargs) -> str:
    before = list(Etablissement.objects.order_by("pk").values_list("pk", "raison_sociale"))
    refresh = load(path, **kwargs)
    assert refresh.status == RefreshStatus.FAILED
    assert list(Etablissement.objects.order_by("pk").values_list("pk", "raison_sociale")) == before
    return refresh.message


@pytest.fixture
def loaded(tmp_path):
    load(write(tmp_path, "first.csv", csv_bytes(sites(), extracted=EXTRACTED)))
    assert Etablissement.objects.count() == 4


def test_wrong_header_names_the_first_difference(tmp_path, loaded):
    data = csv_bytes(sites(), extracted=EXTRACTED).replace(b"finess;etalab", b"FINESS;export", 1)
    message = refused(write(tmp_path, "x.csv", data))
    assert "Line 1" in message and "finess;etalab" in message and "FINESS;export" in message


def test_missing_field_is_named(tmp_path, loaded):
    lines = csv_bytes(sites(), extracted=EXTRACTED).decode("cp1252").splitlines()
    cells = lines[2].split(";")
    del cells[19]  # one field fewer: libcategetab and everything after shift left
    lines[2] = ";".join(cells)
    message = refused(write(tmp_path, "x.csv", "\n".join(lines).encode("cp1252")))
    assert "Line 3" in message and "31 fields, 32 expected" in message and "numuai" in message


def test_unknown_section_and_bad_number_are_refused(tmp_path, loaded):
    data = csv_bytes(sites(), extracted=EXTRACTED) + b"structureej;010780054;x\n"
    assert "unknown section" in refused(write(tmp_path, "x.csv", data))
    bad = structureet_line(Site("69000100X", "690005001", "PHARMACIE X"))
    data = b"finess;etalab;111;2026-05-12\n" + bad.encode() + b"\n"
    assert "nofinesset" in refused(write(tmp_path, "y.csv", data))


def test_truncated_csv_is_refused(tmp_path, loaded):
    data = csv_bytes(sites(), extracted=EXTRACTED)
    cut = data[: data.index(b"geolocalisation") - 40]  # in the middle of the last structureet
    assert "truncated" in refused(write(tmp_path, "cut.csv", cut))
    lines = data.splitlines(keepends=True)
    at_line = b"".join(lines[:-1])  # a whole geolocalisation line missing
    assert "truncated" in refused(write(tmp_path, "cut2.csv", at_line))


def test_much_smaller_full_file_needs_force(tmp_path, loaded):
    one = write(tmp_path, "one.csv", csv_bytes(sites()[:1], extracted=EXTRACTED))
    assert "--force" in refused(one)
    assert load(one, force=True).status == RefreshStatus.DONE
    assert Etablissement.objects.count() == 1


def test_json_schema_violation_and_truncation_are_refused(tmp_path, loaded):
    document = json_document(sites(), generated="2026-03-09T15:49:37Z")
    del document["pmej"][1]["ege"][0]["informationsGeneralesEGE"]["numFinessEge"]
    message = refused(write(tmp_path, "bad.json", json.dumps(document).encode()))
    assert "pmej[1].ege[0].informationsGeneralesEGE" in message and "numFinessEge" in message
    document = json_document(sites(), generated="2026-03-09T15:49:37Z")
    document["pmej"][0]["unexpected"] = 1  # additionalProperties: false
    assert "pmej[0]" in refused(write(tmp_path, "extra.json", json.dumps(document).encode()))
    data = json_bytes(sites())
    assert "truncated" in refused(write(tmp_path, "cut.json", data[: len(data) // 2]))
    assert "generatedAt" in refused(
        write(tmp_path, "nodate.json", b'{"schemaVersion": "v1", "pmej": []}')
    )


def test_gzipped_file_and_command(tmp_path, loaded):
    path = write(
        tmp_path,
        "extract.csv.gz",
        gzip.compress(csv_bytes(sites()[:4], extracted=date(2026, 7, 1))),
    )
    out = StringIO()
    call_command("import_finess", str(path), stdout=out)
    assert "4 établissements read" in out.getvalue() and "2026-07-01" in out.getvalue()
    with pytest.raises(CommandError, match="refused"):
        call_command(
            "import_finess", str(write(tmp_path, "bad.csv", b"nothing;here\n")), stdout=out
        )


def test_monthly_task_reads_the_dropped_file_once(tmp_path, settings):
    settings.FINESS_URL = ""
    settings.FINESS_DROP_DIR = tmp_path
    assert refresh_referential() is None  # nothing dropped
    write(tmp_path, "etalab-cs1100507-stock-20260512.csv", csv_bytes(sites(), extracted=EXTRACTED))
    first = refresh_referential()
    assert Refresh.objects.get(pk=first).status == RefreshStatus.DONE
    assert refresh_referential() is None  # same file: not loaded twice
    assert selectors.last_successful_refresh().pk == first


@pytest.mark.django_db(transaction=True)
def test_a_load_waits_for_the_one_in_progress(tmp_path):
    """The beat refresh and a manual import at the same moment never interleave their
    DELETE and COPY: the second waits for the first's transaction (advisory lock)."""
    import threading

    from django.db import connection, connections, transaction

    from finess.services import _lock_referential

    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers by itself; the advisory lock is PostgreSQL's")
    path = write(tmp_path, "a.csv", csv_bytes(sites(), extracted=EXTRACTED))
    result = {}

    def run():
        try:
            result["status"] = load(path).status
        finally:
            connections.close_all()

    worker = threading.Thread(target=run)
    with transaction.atomic():
        _lock_referential()  # a load in progress
        worker.start()
        worker.join(timeout=1.5)
        assert worker.is_alive()  # waiting for it
    worker.join(timeout=30)
    assert result["status"] == RefreshStatus.DONE
    assert Etablissement.objects.count() == 4


@pytest.fixture
def file_server(tmp_path):
    """A real HTTP server publishing tmp_path (the data.gouv.fr resource, played locally)."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_monthly_task_downloads_finess_url(tmp_path, settings, file_server):
    write(
        tmp_path,
        "etalab-cs1100507-stock-20260512-0339.csv",
        csv_bytes(sites(), extracted=EXTRACTED),
    )
    settings.FINESS_URL = f"{file_server}/etalab-cs1100507-stock-20260512-0339.csv"
    refresh = Refresh.objects.get(pk=refresh_referential())
    assert (refresh.status, refresh.loaded, refresh.data_date) == (RefreshStatus.DONE, 4, EXTRACTED)
    assert refresh.source == settings.FINESS_URL
    out = StringIO()
    call_command(
        "import_finess", f"{file_server}/etalab-cs1100507-stock-20260512-0339.csv", stdout=out
    )
    assert "4 établissements read" in out.getvalue()
    missing = referential_import(source=f"{file_server}/nothing-here.csv")
    assert missing.status == RefreshStatus.FAILED and "404" in missing.message
