"""Pagination of HTML lists that stays fast on deep pages of large tenants."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import Count, QuerySet, Window


class DeferredJoinPaginator(Paginator):
    """Reads a page in two queries whatever the filters: the page's ids together with the
    total (`COUNT(*) OVER ()`, on narrow rows, often an index-only scan), then those rows
    by primary key.

    Page 200 of a 10,000-officine list otherwise sorts 10,000 wide rows (with their
    select_related joins) to keep 50: PostgreSQL spilled that sort to disk; and a costly
    filter (coverage state) was evaluated twice, for COUNT and for the page (BENCHMARKS.md).
    The ids come from the caller's (scoped) queryset, so fetching them by pk widens nothing.
    Per-row annotations (an `Exists`...) are computed for the page's rows only: those rows
    are read again through the caller's queryset. Querysets with DISTINCT or GROUP BY
    (aggregates) use Django's plain paging.
    """

    def _plain(self) -> bool:
        queryset = self.object_list
        return (
            not isinstance(queryset, QuerySet)
            or queryset.query.distinct
            or queryset.query.group_by is not None
        )

    def page(self, number: int | str) -> Page:
        if self._plain():
            return super().page(number)
        queryset = self.object_list
        try:
            wanted = int(number)
        except (TypeError, ValueError):
            wanted = 0
        rows: list[tuple[int, int]] = []
        if wanted >= 1 and "count" not in self.__dict__:
            bottom = (wanted - 1) * self.per_page
            rows = list(
                queryset.annotate(_paginator_total=Window(Count("pk"))).values_list(
                    "pk", "_paginator_total"
                )[bottom : bottom + self.per_page + self.orphans]
            )
            if rows:
                self.__dict__["count"] = rows[0][1]  # the cached_property, known for free
        number = self.validate_number(number)  # counts only when the page was empty
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        if top <= bottom:
            ids = []
        elif rows and number == wanted:
            ids = [pk for pk, _total in rows[: top - bottom]]
        else:
            ids = list(queryset[bottom:top].values_list("pk", flat=True))
        if queryset.query.annotation_select:
            fetched = queryset.filter(pk__in=ids).order_by()  # annotations of 50 rows
        else:
            fetched = queryset.model._default_manager.filter(pk__in=ids).order_by()
            fetched.query.select_related = queryset.query.select_related
            fetched = fetched.prefetch_related(*queryset._prefetch_related_lookups)
        by_pk = {row.pk: row for row in fetched}
        return self._get_page([by_pk[pk] for pk in ids if pk in by_pk], number, self)
