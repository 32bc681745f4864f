"""The OpenAPI schema and its two viewers (Swagger UI, Redoc)."""

from __future__ import annotations

import json
import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def _schema(client) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_schema_describes_bearer_token_auth(client):
    schema = _schema(client)
    scheme = schema["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    execute = schema["paths"]["/api/v1/tools/{name}/execute/"]["post"]
    assert {"bearerAuth": []} in execute["security"]


def test_manage_spectacular_validates_the_schema_without_warnings(tmp_path):
    # --fail-on-warn: an authenticator without a description (or any other warning) fails.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "bearerAuth" in (tmp_path / "schema.yaml").read_text()


def _external_references(html: str) -> list[str]:
    # Every URL the page could make the browser fetch: src/href attributes and CSS url()/@import.
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html) + re.findall(r"""url\(\s*["']?([^"')]+)""", html)
    return [url for url in urls if not url.startswith("/") or url.startswith("//")]


@pytest.mark.parametrize("path", ["/api/redoc/", "/api/docs/"])
def test_the_api_docs_pages_reference_only_the_hubs_own_files(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert _external_references(html) == []
    assert "fonts.googleapis" not in html and "fonts.gstatic" not in html


def test_the_redoc_page_forbids_the_browser_any_other_origin(client):
    # The Redoc bundle itself shows a logo from cdn.redoc.ly: the page's policy blocks it.
    html = client.get("/api/redoc/").content.decode()
    [policy] = re.findall(r'http-equiv="Content-Security-Policy"\s+content="([^"]+)"', html)
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert "http" not in policy
