"""Client ID metadata documents, fetched with the same SSRF guard as ``fetch_url``.

An MCP client may use an https URL as its ``client_id``; django-oauth-toolkit resolves
it (``CIMD_ENABLED``) by fetching that URL on the authorization request. The URL is
chosen by whoever starts the sign-in, so the fetch obeys ``fetch_url``'s rules: the host
is resolved here and every address must be public (or inside
``FETCH_URL_ALLOWED_NETWORKS``; cloud metadata addresses never), the connection goes to
the vetted address with the real name in Host and SNI, no redirects, no proxies, a size
cap and a deadline. https is verified against ``FETCH_URL_CA_BUNDLE`` when set.
"""

from __future__ import annotations

import json
import ssl
import time
from typing import Any

import httpx2
from django.conf import settings
from oauth2_provider.cimd import CIMDError, _effective_max_age, _validate_client_id_url
from oauth2_provider.settings import oauth2_settings

from tools.base import ToolError
from tools.builtin.fetch_url import allowed_networks, url_check

USER_AGENT = "mcpsite-oauth/1.0 (client ID metadata document)"


class GuardedMetadataFetcher:
    """``CIMD_METADATA_FETCHER``: ``fetch(client_id)`` -> (metadata, max_age seconds)."""

    def fetch(self, client_id: str) -> tuple[dict[str, Any], int]:
        _validate_client_id_url(client_id)  # https, a host, a path; no userinfo, fragment or dot segments
        try:
            target = url_check(client_id, allowed=allowed_networks())
        except ToolError as exc:
            raise CIMDError(f"client_id URL {exc}") from None
        timeout = float(oauth2_settings.CIMD_FETCH_TIMEOUT_SECONDS)
        deadline = time.monotonic() + timeout
        max_size = int(oauth2_settings.CIMD_MAX_DOCUMENT_SIZE)
        verify: ssl.SSLContext | bool = True
        if settings.FETCH_URL_CA_BUNDLE:
            verify = ssl.create_default_context(cafile=settings.FETCH_URL_CA_BUNDLE)
        headers = {
            "Host": target.url.netloc.decode("ascii"),
            "Accept": "application/json, application/*+json",
            "User-Agent": USER_AGENT,
        }
        last_error: Exception | None = None
        with httpx2.Client(follow_redirects=False, trust_env=False, verify=verify) as client:
            for address in target.addresses:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                request = client.build_request(
                    "GET", target.url.copy_with(host=str(address)), headers=headers,
                    extensions={"sni_hostname": target.host}, timeout=httpx2.Timeout(remaining),
                )
                try:
                    response = client.send(request, stream=True)
                except (httpx2.ConnectError, httpx2.TimeoutException) as exc:
                    last_error = exc
                    continue
                except httpx2.HTTPError as exc:
                    raise CIMDError(f"could not fetch the client_id document: {exc}") from None
                try:
                    return self._document(response, max_size, deadline)
                finally:
                    response.close()
        raise CIMDError(f"could not fetch the client_id document: {last_error or 'timed out'}")

    def _document(self, response: httpx2.Response, max_size: int, deadline: float) -> tuple[dict[str, Any], int]:
        if response.status_code != 200:
            raise CIMDError(f"the client_id document answered HTTP {response.status_code}")
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json" and not (
            media_type.startswith("application/") and media_type.endswith("+json")
        ):
            raise CIMDError(f"the client_id document is not JSON (Content-Type {media_type!r})")
        body = b""
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_size:
                    raise CIMDError(f"the client_id document is larger than {max_size} bytes")
                if time.monotonic() > deadline:
                    raise CIMDError("the client_id document took too long")
        except httpx2.HTTPError as exc:
            raise CIMDError(f"reading the client_id document failed: {exc}") from None
        try:
            data = json.loads(body)
        except ValueError:
            raise CIMDError("the client_id document is not valid JSON") from None
        if not isinstance(data, dict):
            raise CIMDError("the client_id document must be a JSON object")
        return data, _effective_max_age(response.headers.get("cache-control"))
