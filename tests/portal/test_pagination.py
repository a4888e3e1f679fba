"""DeferredJoinPaginator: same pages as Django's paginator, read ids first then rows."""

from __future__ import annotations

import pytest
from django.core.paginator import Paginator
from django.db.models import Value

from officines.models import Officine
from portal.pagination import DeferredJoinPaginator
from tests.factories import OfficineFactory, TechnicalAdministratorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def officines(tenant_a):
    administrator = TechnicalAdministratorFactory(editor=tenant_a.editor)
    for i in range(23):
        OfficineFactory(
            editor=tenant_a.editor,
            raison_sociale=f"PHARMACIE {i % 5}",  # ties: the id breaks them
            technical_administrator=administrator,
        )
    return Officine.objects.visible_to(tenant_a.viewer).select_related("technical_administrator")


@pytest.mark.parametrize("orphans", [0, 3])
def test_pages_match_djangos_paginator(officines, orphans):
    plain = Paginator(officines, 5, orphans=orphans)
    deferred = DeferredJoinPaginator(officines, 5, orphans=orphans)
    assert deferred.num_pages == plain.num_pages
    for number in plain.page_range:
        expected = [o.pk for o in plain.page(number)]
        page = deferred.page(number)
        assert [o.pk for o in page] == expected
        assert page.has_next() == plain.page(number).has_next()


def test_keeps_select_related_and_reads_in_two_queries(officines, django_assert_num_queries):
    paginator = DeferredJoinPaginator(officines, 10)
    paginator.count  # noqa: B018 (counted once, like Django's)
    with django_assert_num_queries(2):
        page = paginator.page(3)
        administrators = [o.technical_administrator for o in page]
    assert len(administrators) == 5  # 23 + the 2 officines of the tenant fixture
    assert sum(a is not None for a in administrators) >= 4


def test_page_and_total_in_one_query_then_the_rows(officines, django_assert_num_queries):
    expected = [o.pk for o in Paginator(officines, 10).page(2)]
    paginator = DeferredJoinPaginator(officines, 10)
    with django_assert_num_queries(2):
        page = paginator.page(2)
        assert paginator.count == 25 and paginator.num_pages == 3
        assert [o.pk for o in page] == expected


def test_empty_list_and_pages_past_the_end(tenant_a):
    from django.core.paginator import EmptyPage

    empty = Officine.objects.visible_to(tenant_a.viewer).filter(raison_sociale="NONE")
    assert list(DeferredJoinPaginator(empty, 10).page(1)) == []
    with pytest.raises(EmptyPage):
        DeferredJoinPaginator(Officine.objects.visible_to(tenant_a.viewer), 10).page(2)


def test_annotated_querysets_fall_back_to_plain_slicing(officines):
    annotated = officines.annotate(flag=Value(1))
    page = DeferredJoinPaginator(annotated, 4).page(2)
    assert [o.flag for o in page] == [1, 1, 1, 1]


def test_invalid_page_is_refused_like_django(officines):
    from django.core.paginator import EmptyPage

    with pytest.raises(EmptyPage):
        DeferredJoinPaginator(officines, 10).page(9)
