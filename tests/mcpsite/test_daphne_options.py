"""daphne's requests as mcpsite makes them (``mcpsite/daphne_options.py``)."""

from __future__ import annotations

from unittest import mock

from daphne.http_protocol import HTTPFactory, WebRequest
from twisted.web import http

from mcpsite import daphne_options


def made_request() -> WebRequest:
    # A stand-in channel: WebRequest only asks it for addresses and its daphne server
    # (mocked because a real one needs a listening daphne).
    return WebRequest(mock.MagicMock(name="channel"))


def test_twisted_is_told_not_to_parse_request_bodies_and_daphne_still_gets_them():
    daphne_options.install()
    daphne_options.install()  # twice is once: the patch does not stack

    request = made_request()

    # Twisted's own switch (parsePOSTFormSubmission) as the request was made: off, so no
    # POST's Content-Type goes through the email package and no form into request.args.
    assert request._parsePOSTFormSubmission is False
    with mock.patch.object(http, "_parseContentType", side_effect=AssertionError("parsed")) as parse:
        request.method, request.uri, request.clientproto = b"POST", b"/api", b"HTTP/1.1"
        request.requestHeaders.setRawHeaders(b"content-type", [b"application/x-www-form-urlencoded"])
        request.gotLength(9)
        request.handleContentChunk(b"a=1&b=two")
        with mock.patch.object(WebRequest, "process") as process:
            request.requestReceived(b"POST", b"/api", b"HTTP/1.1")
    parse.assert_not_called()
    process.assert_called_once()
    assert request.args == {}
    request.content.seek(0)
    assert request.content.read() == b"a=1&b=two"  # the body daphne hands to the application


def test_twisted_formats_no_access_log_line_of_its_own():
    daphne_options.install()
    daphne_options.install()
    server = mock.MagicMock(name="daphne server")  # as above: a real one needs a listening daphne
    factory = HTTPFactory(server)
    factory.doStart()
    try:
        request = made_request()
        with mock.patch.object(factory, "_logFormatter", side_effect=AssertionError("formatted")) as formatter:
            factory.log(request)  # Twisted calls this as each request finishes
        formatter.assert_not_called()
    finally:
        factory.doStop()
