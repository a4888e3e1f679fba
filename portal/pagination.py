"""Pagination of HTML lists that stays fast on deep pages of large tenants."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet


class DeferredJoinPaginator(Paginator):
    """Reads a page in two steps: the page's ids (ORDER BY + OFFSET on narrow rows, often
    an index-only scan), then those rows by primary key.

    Page 200 of a 10,000-officine list otherwise sorts 10,000 wide rows (with their
    select_related joins) to keep 50: PostgreSQL spilled that sort to disk (BENCHMARKS.md).
    The ids come from the caller's (scoped) queryset, so fetching them by pk widens nothing.
    Querysets with selected annotations fall back to Django's plain slicing.
    """

    def page(self, number: int | str) -> Page:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or queryset.query.annotation_select:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = list(queryset[bottom:top].values_list("pk", flat=True))
        rows = queryset.model._default_manager.filter(pk__in=ids).order_by()
        rows.query.select_related = queryset.query.select_related
        rows = rows.prefetch_related(*queryset._prefetch_related_lookups)
        by_pk = {row.pk: row for row in rows}
        return self._get_page([by_pk[pk] for pk in ids if pk in by_pk], number, self)
