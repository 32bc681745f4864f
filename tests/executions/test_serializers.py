"""The REST serializers build their fields once per class (BuiltOnceModelSerializer) and
must answer exactly as DRF's ModelSerializer does, each instance with its own request."""

from __future__ import annotations

import threading

import pytest
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from accounts.models import User
from executions import services
from executions.models import Session
from executions.serializers import SessionSerializer, ToolExecutionSerializer

pytestmark = pytest.mark.django_db


class PlainExecutionSerializer(serializers.ModelSerializer):
    """ToolExecutionSerializer as DRF builds it, for every instance."""

    user = serializers.CharField(source="user.username", default=None, read_only=True)
    url = serializers.HyperlinkedIdentityField(view_name="api:execution-detail")

    class Meta:
        model = ToolExecutionSerializer.Meta.model
        fields = ToolExecutionSerializer.Meta.fields


@pytest.fixture(autouse=True)
def any_host(settings):
    settings.ALLOWED_HOSTS = [".example"]


def request_for(host: str) -> Request:
    return Request(APIRequestFactory().get("/api/v1/executions/", HTTP_HOST=host))


@pytest.fixture
def execution():
    user = User.objects.create_user(username="alice", password="pw-alice-123")
    session = services.session_start(user=user, kind=Session.Kind.API)
    return services.execute_tool(
        user=user, tool_name="calculate", arguments={"expression": "6 * 7"}, via="api", session=session,
    )


def test_an_execution_is_answered_as_drf_builds_it(execution):
    request = request_for("hub.example")

    ours = ToolExecutionSerializer(execution, context={"request": request}).data
    drfs = PlainExecutionSerializer(execution, context={"request": request}).data

    assert ours == drfs
    assert ours["user"] == "alice" and ours["status"] == "success"
    # A second instance of the class (its fields now copied from the built ones) answers the same.
    assert ToolExecutionSerializer(execution, context={"request": request}).data == drfs


def test_each_instance_has_its_own_request_also_on_threads_at_once(execution):
    hosts = [f"hub{n}.example" for n in range(8)]
    urls: dict[str, str] = {}
    barrier = threading.Barrier(len(hosts))

    def serialize(host: str) -> None:
        serializer = ToolExecutionSerializer(execution, context={"request": request_for(host)})
        barrier.wait()
        urls[host] = serializer.data["url"]

    threads = [threading.Thread(target=serialize, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert urls == {host: f"http://{host}/api/v1/executions/{execution.id}/" for host in hosts}


def test_instances_do_not_share_bound_fields(execution):
    first = ToolExecutionSerializer(execution, context={"request": request_for("a.example")})
    second = ToolExecutionSerializer(execution, context={"request": request_for("b.example")})

    assert first.fields["url"] is not second.fields["url"]
    assert first.fields["url"].parent is first and second.fields["url"].parent is second


def test_a_session_is_answered_as_drf_builds_it(execution):
    class PlainSessionSerializer(serializers.ModelSerializer):
        user = serializers.CharField(source="user.username", default=None, read_only=True)
        executions = serializers.IntegerField(source="execution_count", read_only=True)

        class Meta:
            model = Session
            fields = SessionSerializer.Meta.fields

    session = Session.objects.get(pk=execution.session_id)

    assert SessionSerializer(session).data == PlainSessionSerializer(session).data
    assert SessionSerializer(session).data["executions"] == 1
