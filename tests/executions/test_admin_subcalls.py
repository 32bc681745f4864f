"""The admin shows an execution's sub-calls and its parent, in a number of queries that
does not grow with the sub-calls (a document analysis makes several per section)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from executions.admin import CHILDREN_SHOWN
from executions.models import ToolExecution

pytestmark = pytest.mark.django_db

CHILDREN = 2_000


@pytest.fixture
def parent(admin_user) -> ToolExecution:
    parent = ToolExecution.objects.create(tool_name="analyze_document", user=admin_user, via="api", status="success")
    ToolExecution.objects.bulk_create(
        ToolExecution(id=uuid.uuid4(), tool_name="spell_check", user=admin_user, via="api", status="success",
                      parent=parent, duration_ms=n)
        for n in range(CHILDREN)
    )
    return parent


def get(client, url: str, max_queries: int) -> str:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert len(queries) <= max_queries, (url, len(queries), "\n".join(q["sql"][:150] for q in queries))
    return response.content.decode()


def test_it_lists_the_first_sub_calls_and_links_to_all_of_them(client, admin_user, parent):
    client.force_login(admin_user)
    page = get(client, f"/admin/executions/toolexecution/{parent.pk}/change/", max_queries=20)
    assert page.count("spell_check") == CHILDREN_SHOWN
    assert f"?parent__exact={parent.pk}" in page and "All sub-calls of this execution" in page
    listing = get(client, f"/admin/executions/toolexecution/?parent__exact={parent.pk}", max_queries=25)
    assert "spell_check" in listing


def test_a_sub_calls_page_links_its_parent(client, admin_user, parent):
    client.force_login(admin_user)
    child = parent.children.first()
    page = get(client, f"/admin/executions/toolexecution/{child.pk}/change/", max_queries=20)
    assert f"/admin/executions/toolexecution/{parent.pk}/change/" in page
    assert "None." in page  # it has no sub-calls of its own
