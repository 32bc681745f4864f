"""REST API errors: always JSON ``{"code", "message", ...}``, never an HTML 500 for bad input."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.db import connection as db_connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from django.views.defaults import server_error as django_server_error
from rest_framework import exceptions, status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.authentication import bearer_challenge
from executions.policy import (
    ArgumentsInvalid,
    ExecutionRejected,
    QueueUnavailable,
    RateLimited,
    ScopeMissing,
    ShuttingDown,
    ToolBusy,
    ToolNotFound,
    ToolUnavailable,
)
from mcpsite.logging import request_id_var

logger = logging.getLogger(__name__)

_REJECTION_STATUS = {
    ToolNotFound: status.HTTP_404_NOT_FOUND,
    ToolUnavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    ArgumentsInvalid: status.HTTP_400_BAD_REQUEST,
    RateLimited: status.HTTP_429_TOO_MANY_REQUESTS,
    ToolBusy: status.HTTP_503_SERVICE_UNAVAILABLE,
    QueueUnavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    ShuttingDown: status.HTTP_503_SERVICE_UNAVAILABLE,
    ScopeMissing: status.HTTP_403_FORBIDDEN,
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"code": "request_too_large", "message": "The request body is larger than the server accepts."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database went away (a restart, a failover): this request fails, the next one
        # connects again. Not a defect of the request: 503, retry.
        logger.warning("database unavailable: %s", exc)
        db_connection.close_if_unusable_or_obsolete()
        return Response(
            {"code": "database_unavailable", "message": "The database is unavailable; retry in a moment."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "2"},
        )
    if isinstance(exc, ExecutionRejected):
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
        headers = {}
        if isinstance(exc, ArgumentsInvalid):
            body["errors"] = exc.errors
        if isinstance(exc, (RateLimited, ToolBusy, QueueUnavailable, ShuttingDown)):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, QueueUnavailable):
            body["execution_id"] = exc.execution_id
        if isinstance(exc, ScopeMissing):
            # RFC 6750 3.1 / RFC 9728: the scope to ask for, and where to learn how.
            held = tuple(getattr(context["request"].auth, "scopes", None) or ())
            wanted = tuple(sorted({*held, exc.scope}))
            headers["WWW-Authenticate"] = bearer_challenge(
                context["request"], error="insufficient_scope", scopes=wanted
            )
        return Response(body, status=_REJECTION_STATUS.get(type(exc), 400), headers=headers)

    # DRF answers Django's own exceptions with {"detail"}: give them the documented shape too.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found: no such object, or it is not yours.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, APIException):
        detail = response.data
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "invalid"
        if isinstance(detail, dict) and set(detail) == {"detail"}:
            response.data = {"code": code, "message": str(detail["detail"])}
        else:
            response.data = {"code": code, "message": "The request is not valid.", "errors": detail}
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The site's 404 (``handler404``): JSON in the API's error shape under /api/, the
    ordinary page elsewhere. A path no URL pattern matches never reaches DRF."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {
                "code": "not_found",
                "message": f"No API endpoint at {request.path}. The endpoints are listed at /api/docs/.",
            },
            status=status.HTTP_404_NOT_FOUND,
        )
    return page_not_found(request, exception or Http404())


# Paths whose clients read JSON: an unexpected error there is JSON too.
JSON_PATH_PREFIXES = ("/api/", "/oauth/", "/.well-known/")


def server_error(request: HttpRequest) -> HttpResponse:
    """The site's 500 (``handler500``), the last resort for a defect that slips through:
    JSON with the request id under the API's paths (the traceback is logged with the same
    id by Django's request logger), the ordinary page elsewhere."""
    if request.path.startswith(JSON_PATH_PREFIXES):
        request_id = getattr(request, "request_id", None) or request_id_var.get()
        return JsonResponse(
            {
                "code": "server_error",
                "message": "The server failed on this request; the error is logged with this request id.",
                "request_id": request_id,
            },
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return django_server_error(request)
