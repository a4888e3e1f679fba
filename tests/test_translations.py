"""The French catalogue is complete, compiled, and covers every string in the code.

French is the default UI language: an untranslated or fuzzy entry shows English (or, for a
fuzzy one, a wrong guess) to users, and a stale .mo hides translations that the .po has.
"""

from __future__ import annotations

import ast
import gettext
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
PO_PATH = LOCALE_DIR / "fr" / "LC_MESSAGES" / "django.po"
MO_PATH = PO_PATH.with_suffix(".mo")

_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")\s*$')
# %(name)s style and bare %s/%d placeholders; "%%" is a literal percent sign.
_PLACEHOLDER = re.compile(r"%(?:\([^)]+\))?[-#0+]*\d*(?:\.\d+)?[sdifr]")


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def translations(self) -> list[str]:
        return [self.msgstr[i] for i in sorted(self.msgstr)]

    def label(self) -> str:
        ctx = f"[{self.msgctxt}] " if self.msgctxt is not None else ""
        return f"line {self.line}: {ctx}{self.msgid!r}"


def _unquote(text: str) -> str:
    # PO strings use C escapes (\n, \t, \", \\), which Python string literals read the same way.
    return ast.literal_eval(text)


def parse_po(path: Path) -> list[Entry]:
    """A small PO reader: entries with context, plural forms and flags; obsolete (#~) skipped."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int | None] | None = None
    pending_flags: set[str] = set()

    def finish() -> None:
        nonlocal current, target
        if current is not None:
            entries.append(current)
        current, target = None, None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#"):
            if current is not None and target is not None and target[0] == "msgstr":
                finish()  # a comment after msgstr starts the next entry
            if line.startswith("#,"):
                pending_flags |= {f.strip() for f in line[2:].split(",") if f.strip()}
            continue
        match = _KEYWORD.match(line)
        if match:
            keyword, index, value = match.group(1), match.group(2), _unquote(match.group(3))
            if keyword in ("msgctxt", "msgid") and (
                current is None or (target is not None and target[0] == "msgstr")
            ):
                finish()
                current = Entry(line=number, flags=pending_flags)
                pending_flags = set()
            if current is None:
                raise AssertionError(f"{path}:{number}: {keyword} outside an entry")
            if keyword == "msgctxt":
                current.msgctxt = value
                target = ("msgctxt", None)
            elif keyword == "msgid":
                current.msgid = value
                target = ("msgid", None)
            elif keyword == "msgid_plural":
                current.msgid_plural = value
                target = ("msgid_plural", None)
            else:
                slot = int(index) if index is not None else 0
                current.msgstr[slot] = value
                target = ("msgstr", slot)
            continue
        if line.startswith('"') and current is not None and target is not None:
            value = _unquote(line)
            kind, slot = target
            if kind == "msgstr":
                current.msgstr[slot] += value
            elif kind == "msgid":
                current.msgid += value
            elif kind == "msgid_plural":
                current.msgid_plural = (current.msgid_plural or "") + value
            else:
                current.msgctxt = (current.msgctxt or "") + value
            continue
        raise AssertionError(f"{path}:{number}: unreadable line {raw!r}")
    finish()
    return entries


def _messages(entries: list[Entry]) -> list[Entry]:
    """All entries but the header (msgid "")."""
    return [e for e in entries if e.msgid != ""]


def _problems(entries: list[Entry]) -> list[str]:
    problems = []
    for entry in _messages(entries):
        expected_forms = 2 if entry.msgid_plural is not None else 1
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {entry.label()}")
        elif len(entry.msgstr) != expected_forms or any(not s for s in entry.translations):
            problems.append(f"untranslated: {entry.label()}")
    return problems


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return parse_po(PO_PATH)


def test_parser_reads_plurals_context_flags_and_continuations(tmp_path: Path) -> None:
    """Guards the guard: a parser that misreads entries would let bad catalogues pass."""
    po = tmp_path / "x.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Plural-Forms: nplurals=2; plural=(n > 1);\\n"\n\n'
        '#: a.py:1\n#, fuzzy, python-format\nmsgid "Hello %(name)s"\nmsgstr "Salut"\n\n'
        'msgctxt "menu"\nmsgid ""\n"Two\\n"\n"lines"\nmsgstr "Deux\\nlignes"\n\n'
        'msgid "%(n)s item"\nmsgid_plural "%(n)s items"\nmsgstr[0] "%(n)s élément"\n'
        'msgstr[1] ""\n\n'
        '#~ msgid "Old"\n#~ msgstr "Ancien"\n',
        encoding="utf-8",
    )
    parsed = _messages(parse_po(po))
    assert [(e.msgctxt, e.msgid) for e in parsed] == [
        (None, "Hello %(name)s"),
        ("menu", "Two\nlines"),
        (None, "%(n)s item"),
    ]
    assert parsed[0].flags == {"fuzzy", "python-format"}
    assert parsed[1].msgstr == {0: "Deux\nlignes"}
    assert parsed[2].msgid_plural == "%(n)s items"
    assert _problems(parse_po(po)) == [
        f"fuzzy: {parsed[0].label()}",
        f"untranslated: {parsed[2].label()}",
    ]


def test_catalogue_has_messages(entries: list[Entry]) -> None:
    assert len(_messages(entries)) > 200


def test_every_entry_is_translated_and_not_fuzzy(entries: list[Entry]) -> None:
    problems = _problems(entries)
    assert not problems, "Translate these in locale/fr/LC_MESSAGES/django.po:\n" + "\n".join(
        problems
    )


def test_translations_keep_placeholders_and_line_breaks(entries: list[Entry]) -> None:
    problems = []
    for entry in _messages(entries):
        if "fuzzy" in entry.flags:
            continue  # a wrong guess by msgmerge, reported by the completeness test
        sources = [entry.msgid] + ([entry.msgid_plural] if entry.msgid_plural else [])
        wanted = set(_PLACEHOLDER.findall(" ".join(sources)))
        for text in entry.translations:
            if not text:
                continue
            got = set(_PLACEHOLDER.findall(text))
            # A singular form may drop the number ("une officine"), never invent a placeholder.
            if got - wanted or (entry.msgid_plural is None and got != wanted):
                problems.append(f"placeholders {sorted(got)} != {sorted(wanted)}: {entry.label()}")
            if text.count("\n") != entry.msgid.count("\n"):
                problems.append(f"line breaks differ: {entry.label()}")
    assert not problems, "\n".join(problems)


def test_mo_matches_po(entries: list[Entry]) -> None:
    """Every .po translation is in the committed .mo: catches a forgotten compilemessages."""
    assert MO_PATH.exists(), "run: manage.py compilemessages --ignore=.venv"
    with MO_PATH.open("rb") as fh:
        catalog = gettext.GNUTranslations(fh)
    stale = []
    for entry in _messages(entries):
        if "fuzzy" in entry.flags or not all(entry.translations):
            continue  # reported by test_every_entry_is_translated_and_not_fuzzy
        if entry.msgid_plural is not None:
            pairs = [
                (catalog.ngettext(entry.msgid, entry.msgid_plural, 1), entry.msgstr[0]),
                (catalog.ngettext(entry.msgid, entry.msgid_plural, 2), entry.msgstr[1]),
            ]
        elif entry.msgctxt is not None:
            pairs = [(catalog.pgettext(entry.msgctxt, entry.msgid), entry.msgstr[0])]
        else:
            pairs = [(catalog.gettext(entry.msgid), entry.msgstr[0])]
        if any(got != want for got, want in pairs):
            stale.append(entry.label())
    assert not stale, "The .mo is stale; run compilemessages. Differences:\n" + "\n".join(stale)


def test_django_serves_french_by_default() -> None:
    assert settings.LANGUAGE_CODE == "fr"
    with translation.override("fr"):
        assert translation.gettext("Log out") == "Se déconnecter"
        assert (
            translation.gettext("The check digit (Luhn key) of this FINESS number is wrong.")
            == "La clé de contrôle (clé de Luhn) de ce numéro FINESS est incorrecte."
        )
        assert translation.ngettext("%(counter)s officine", "%(counter)s officines", 2) == (
            "%(counter)s officines"
        )
    with translation.override("en"):
        assert translation.gettext("Log out") == "Log out"


# Directories that makemessages must not read (same as the documented command) or that hold no
# source; only the extensions makemessages reads for the "django" domain are copied.
_SKIP_DIRS = {".venv", "var", "bench", "locale", "node_modules", "staticfiles", "build"}
_SOURCE_SUFFIXES = {".py", ".html", ".txt"}


def _copy_sources(src: Path, dst: Path) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = set()
        for name in names:
            path = Path(directory) / name
            if path.is_dir():
                hidden_or_build = name.startswith(".") or name.endswith(".egg-info")
                if name in _SKIP_DIRS or name == "__pycache__" or hidden_or_build:
                    skipped.add(name)
            elif path.suffix not in _SOURCE_SUFFIXES:
                skipped.add(name)
        return skipped

    shutil.copytree(src, dst, ignore=ignore)


@pytest.mark.slow
def test_catalogue_covers_every_string_in_the_code(tmp_path: Path, monkeypatch) -> None:
    """Re-extract strings against a copy of the catalogue: a new or changed msgid shows up here.

    makemessages runs in a copy of the sources: it adds any `./locale` it finds to its targets
    and writes temporary files beside templates, so it must never run in the real tree here.
    """
    if shutil.which("xgettext") is None or shutil.which("msgmerge") is None:
        pytest.skip("GNU gettext tools are not installed")
    root = tmp_path / "src"
    _copy_sources(Path(settings.BASE_DIR), root)
    copy = root / "locale" / "fr" / "LC_MESSAGES" / "django.po"
    copy.parent.mkdir(parents=True)
    shutil.copyfile(PO_PATH, copy)
    before = PO_PATH.read_bytes()
    monkeypatch.chdir(root)
    with override_settings(LOCALE_PATHS=[str(root / "locale")]):
        call_command(
            "makemessages",
            locale=["fr"],
            ignore_patterns=[".venv", "var", "bench"],
            no_obsolete=True,
            verbosity=0,
        )
    assert PO_PATH.read_bytes() == before, "makemessages must not touch the real catalogue"
    regenerated = _messages(parse_po(copy))
    assert len(regenerated) > 200, "makemessages found no sources in the copy"
    problems = _problems(parse_po(copy))
    assert not problems, (
        "New strings in the code: run makemessages -l fr and translate them:\n"
        + "\n".join(problems)
    )
