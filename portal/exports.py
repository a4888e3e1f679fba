"""The one view that exports a filtered list as CSV: filtered as on the page, audited, streamed."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.generic import View

from portal.audit import audit_record
from portal.csv_stream import csv_response
from portal.permissions import ScopedViewMixin


class FilteredCsvExport(ScopedViewMixin, View):
    """GET: the rows the list page shows for the same query string, as `<prefix>-<date>.csv`.

    Subclasses set `model` and `roles` (as any scoped view), `filterset_class` (the list
    page's), `audit_action`, `filename_prefix`, and write `export_rows(queryset)` (header
    first); `export_queryset()` may add joins. The export is audited with its filters.
    """

    filterset_class: type
    audit_action: str
    filename_prefix: str

    def export_queryset(self) -> QuerySet:
        return self.get_queryset()

    def export_rows(self, queryset: QuerySet) -> Iterable[Iterable[object]]:
        raise NotImplementedError

    def get(self, request: HttpRequest) -> HttpResponse:
        queryset = self.export_queryset()
        filterset = self.filterset_class(request.GET, queryset=queryset, request=request)
        rows = filterset.qs if filterset.is_valid() else queryset.none()
        audit_record(
            action=self.audit_action,
            actor=request.user,
            editor=self.scope.editor_id,
            request=request,
            details={"filters": {k: v for k, v in request.GET.items() if k != "page" and v}},
        )
        stamp = timezone.localdate().isoformat()
        return csv_response(f"{self.filename_prefix}-{stamp}.csv", self.export_rows(rows))
