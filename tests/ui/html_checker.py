"""A small HTML checker for page tests, built on the standard library's `html.parser`.

It finds what makes a page unusable with a keyboard or a screen reader, or unsafe:
- every visible `<input>`, `<select>`, `<textarea>` has a label (`<label for=id>`, a wrapping
  `<label>`, `aria-label` or `aria-labelledby`);
- no id is used twice, and `aria-describedby`/`aria-labelledby`/`for` point to real ids;
- every form has a method; POST forms carry the CSRF token;
- no inline script, inline style or `on*=` handler (the CSP forbids them, so they would fail
  silently in the browser);
- elements that must be closed are closed in order (a swallowed `</div>` breaks layouts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

UNLABELLED_INPUT_TYPES = {"hidden", "submit", "button", "reset", "image"}
VOID_ELEMENTS = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
# Elements whose end tag may be omitted by the HTML standard.
OPTIONAL_END = {"p", "li", "dt", "dd", "option", "tr", "td", "th", "thead", "tbody", "tfoot"}


@dataclass
class _Form:
    method: str | None
    has_csrf: bool = False
    line: int = 0


@dataclass
class HtmlReport:
    errors: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return not self.errors


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.errors: list[str] = []
        self.ids: dict[str, int] = {}
        self.label_for: set[str] = set()
        self.references: list[tuple[str, str, int]] = []
        self.fields: list[tuple[str, dict[str, str | None], bool, int]] = []
        self.label_depth = 0
        self.forms: list[_Form] = []
        self.open_form: _Form | None = None
        self.stack: list[tuple[str, int]] = []

    # -- parsing

    def handle_starttag(self, tag: str, attrs_list) -> None:
        attrs = dict(attrs_list)
        line = self.getpos()[0]
        self._check_attributes(tag, attrs, line)
        if tag not in VOID_ELEMENTS:
            self.stack.append((tag, line))
        if tag == "label":
            self.label_depth += 1
            if attrs.get("for"):
                self.label_for.add(attrs["for"])
        elif tag == "form":
            self.open_form = _Form(method=(attrs.get("method") or None), line=line)
            self.forms.append(self.open_form)
        elif tag in ("input", "select", "textarea"):
            self._field(tag, attrs, line)
        elif tag == "script" and not attrs.get("src"):
            self.errors.append(f"line {line}: inline <script> (forbidden by the CSP)")
        elif tag == "style":
            self.errors.append(f"line {line}: inline <style> (forbidden by the CSP)")

    def handle_startendtag(self, tag: str, attrs_list) -> None:
        self.handle_starttag(tag, attrs_list)
        if tag not in VOID_ELEMENTS and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        line = self.getpos()[0]
        if tag == "label":
            self.label_depth = max(self.label_depth - 1, 0)
        elif tag == "form":
            self.open_form = None
        if tag in VOID_ELEMENTS:
            return
        while self.stack and self.stack[-1][0] != tag and self.stack[-1][0] in OPTIONAL_END:
            self.stack.pop()
        if self.stack and self.stack[-1][0] == tag:
            self.stack.pop()
        else:
            expected = self.stack[-1] if self.stack else None
            self.errors.append(
                f"line {line}: </{tag}> closes nothing open"
                + (f" (open: <{expected[0]}> from line {expected[1]})" if expected else "")
            )

    # -- checks

    def _check_attributes(self, tag: str, attrs: dict[str, str | None], line: int) -> None:
        for name in attrs:
            if name.startswith("on"):
                self.errors.append(f"line {line}: inline handler {name}= on <{tag}> (CSP)")
        if "style" in attrs:
            self.errors.append(f"line {line}: inline style= on <{tag}> (CSP)")
        element_id = attrs.get("id")
        if element_id:
            if element_id in self.ids:
                self.errors.append(
                    f"line {line}: duplicate id {element_id!r} "
                    f"(first on line {self.ids[element_id]})"
                )
            else:
                self.ids[element_id] = line
        for reference in ("aria-describedby", "aria-labelledby", "aria-controls"):
            for target in (attrs.get(reference) or "").split():
                self.references.append((reference, target, line))
        if tag == "label" and attrs.get("for"):
            self.references.append(("for", attrs["for"] or "", line))

    def _field(self, tag: str, attrs: dict[str, str | None], line: int) -> None:
        kind = (attrs.get("type") or "text").lower() if tag == "input" else tag
        if kind in UNLABELLED_INPUT_TYPES:
            if (
                kind == "hidden"
                and attrs.get("name") == "csrfmiddlewaretoken"
                and self.open_form is not None
            ):
                self.open_form.has_csrf = True
            return
        self.fields.append((tag, attrs, self.label_depth > 0, line))

    def result(self) -> list[str]:
        errors = list(self.errors)
        for tag, attrs, wrapped, line in self.fields:
            labelled = (
                wrapped
                or attrs.get("aria-label")
                or attrs.get("aria-labelledby")
                or (attrs.get("id") and attrs["id"] in self.label_for)
            )
            if not labelled:
                name = attrs.get("name") or attrs.get("id") or "?"
                errors.append(f"line {line}: <{tag} name={name!r}> has no label")
        for form in self.forms:
            if not form.method:
                errors.append(f"line {form.line}: <form> without method")
            elif form.method.lower() == "post" and not form.has_csrf:
                errors.append(f"line {form.line}: POST form without CSRF token")
        for reference, target, line in self.references:
            if target not in self.ids:
                errors.append(f"line {line}: {reference} points to missing id {target!r}")
        for tag, line in self.stack:
            if tag not in OPTIONAL_END and tag not in ("html", "body", "head"):
                errors.append(f"line {line}: <{tag}> is never closed")
        return errors


def check_html(html: str | bytes) -> list[str]:
    """Every problem found in a page (empty when it passes)."""
    if isinstance(html, bytes):
        html = html.decode("utf-8")
    checker = _Checker()
    checker.feed(html)
    checker.close()
    return checker.result()


def assert_valid_html(response_or_html) -> None:
    """Fail with the list of problems; accepts a Django test response or a string."""
    html = getattr(response_or_html, "content", response_or_html)
    problems = check_html(html)
    assert problems == [], "HTML problems:\n" + "\n".join(problems)
