"""The authorization server in process: its metadata, registration (and switching it off),
PKCE S256 as the only way, refresh token rotation with reuse detection, client ID metadata
documents behind fetch_url's SSRF guard, the consent page and the admin's revoke."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from oauth2_provider.cimd import CIMDError
from oauth2_provider.models import AccessToken, get_application_model

from authserver.client_metadata import GuardedMetadataFetcher

pytestmark = pytest.mark.django_db
REDIRECT = "http://127.0.0.1:9999/callback"
RESOURCE = "http://testserver/mcp"


def register(client, **metadata) -> dict:
    body = {"client_name": "Test client", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], **metadata}
    response = client.post("/oauth/register/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_query(client_id: str, challenge: str | None, **extra: str) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": "xyz",
              "scope": "tools:read tools:call executions:read", "resource": RESOURCE, **extra}
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method=extra.get("code_challenge_method", "S256"))
    return "/oauth/authorize/?" + urlencode(params)


def signed_in_code(client, user, client_id: str, verifier_challenge: tuple[str, str]) -> str:
    client.force_login(user)
    page = client.get(authorize_query(client_id, verifier_challenge[1]))
    assert page.status_code == 200, page.content
    form = page.context["form"].initial
    answer = client.post("/oauth/authorize/", {**{k: v or "" for k, v in form.items()}, "allow": "Allow"})
    assert answer.status_code == 302, answer.content
    query = parse_qs(urlsplit(answer["Location"]).query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


def test_the_metadata_names_the_endpoints_and_pkce_s256_only(client):
    metadata = client.get("/.well-known/oauth-authorization-server").json()

    assert metadata["issuer"] == "http://testserver"
    assert metadata["authorization_endpoint"] == "http://testserver/oauth/authorize/"
    assert metadata["token_endpoint"] == "http://testserver/oauth/token/"
    assert metadata["registration_endpoint"] == "http://testserver/oauth/register/"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert metadata["client_id_metadata_document_supported"] is True
    assert set(metadata["scopes_supported"]) == {"tools:read", "tools:call", "executions:read"}
    resource = client.get("/.well-known/oauth-protected-resource").json()
    assert resource["authorization_servers"] == ["http://testserver"]


def test_dynamic_registration_can_be_switched_off(client, settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "DCR_ENABLED": False}

    assert "registration_endpoint" not in client.get("/.well-known/oauth-authorization-server").json()
    assert (
        client.post("/oauth/register/", {"redirect_uris": [REDIRECT]}, content_type="application/json").status_code
        == 404
    )


def test_a_code_needs_pkce_s256(client, user):
    client_id = register(client)["client_id"]
    client.force_login(user)

    without = client.get(authorize_query(client_id, None))
    assert without.status_code == 302 and "error=invalid_request" in without["Location"]
    # "plain" gets as far as the consent page, but no code comes of it.
    plain = client.get(authorize_query(client_id, "plain-challenge-" + "x" * 40, code_challenge_method="plain"))
    answer = client.post(
        "/oauth/authorize/", {**{k: v or "" for k, v in plain.context["form"].initial.items()}, "allow": "Allow"}
    )
    assert "code=" not in answer.get("Location", "") and "error" in (
        answer.get("Location", "") + answer.content.decode()
    )
    implicit = client.get(authorize_query(client_id, pkce()[1], response_type="token"))
    assert "error=" in implicit["Location"] and "code=" not in implicit["Location"]


def test_the_code_flow_binds_the_resource_and_refresh_tokens_rotate(client, user):
    client_id = register(client)["client_id"]
    verifier, challenge = pkce()
    code = signed_in_code(client, user, client_id, (verifier, challenge))
    client.logout()

    wrong = client.post("/oauth/token/", {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                          "client_id": client_id, "code_verifier": "not-the-verifier-" + "x" * 30})
    assert wrong.status_code == 400
    code = signed_in_code(client, user, client_id, (verifier, challenge))
    client.logout()
    token = client.post("/oauth/token/", {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                          "client_id": client_id, "code_verifier": verifier, "resource": RESOURCE})
    assert token.status_code == 200, token.content
    first = token.json()
    assert AccessToken.objects.get(
        token_checksum=hashlib.sha256(first["access_token"].encode()).hexdigest()
    ).resource == [RESOURCE]

    refreshed = client.post("/oauth/token/", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                                              "client_id": client_id})
    assert refreshed.status_code == 200
    second = refreshed.json()
    assert second["refresh_token"] != first["refresh_token"]
    # Reusing the rotated-out refresh token is refused, and revokes the family.
    reused = client.post("/oauth/token/", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                                           "client_id": client_id})
    assert reused.status_code == 400
    again = client.post("/oauth/token/", {"grant_type": "refresh_token", "refresh_token": second["refresh_token"],
                                          "client_id": client_id})
    assert again.status_code == 400


def test_a_client_registered_for_another_grant_gets_no_token(client):
    registered = register(client, grant_types=["client_credentials"], redirect_uris=[],
                          token_endpoint_auth_method="client_secret_basic")
    answer = client.post("/oauth/token/", {"grant_type": "client_credentials", "client_id": registered["client_id"],
                                           "client_secret": registered["client_secret"]})
    assert answer.status_code in (400, 401) and "access_token" not in answer.json()


@pytest.mark.parametrize("url, reason", [
    ("https://127.0.0.1/client.json", "loopback"),
    ("https://169.254.169.254/latest/meta-data.json", "cloud metadata"),
    ("https://10.0.0.5/client.json", "private"),
])
def test_client_metadata_documents_are_fetched_with_the_ssrf_guard(url, reason, settings):
    settings.FETCH_URL_ALLOWED_NETWORKS = []
    with pytest.raises(CIMDError, match=reason):
        GuardedMetadataFetcher().fetch(url)


def test_an_unreachable_client_metadata_document_is_an_unknown_client(client, user):
    client.force_login(user)
    page = client.get(authorize_query("https://127.0.0.1/client.json", pkce()[1]))
    assert page.status_code == 400 and b"Invalid client_id" in page.content
    assert not get_application_model().objects.filter(client_id="https://127.0.0.1/client.json").exists()


def test_the_consent_page_names_the_client_scopes_and_tools_and_a_person_may_grant_less(client, user):
    client_id = register(client, client_name="Desk Assistant")["client_id"]
    verifier, challenge = pkce()
    client.force_login(user)
    page = client.get(authorize_query(client_id, challenge))
    html = page.content.decode()
    assert "Desk Assistant" in html and "tools:call" in html and "text_statistics" in html and "127.0.0.1:9999" in html

    form = {**{k: v or "" for k, v in page.context["form"].initial.items()}, "scope_choices_shown": "1"}
    answer = client.post(
        "/oauth/authorize/", {**form, "allow": "Allow", "scope_choice": ["tools:read", "executions:read"]}
    )
    code = parse_qs(urlsplit(answer["Location"]).query)["code"][0]
    token = client.post("/oauth/token/", {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                          "client_id": client_id, "code_verifier": verifier}).json()
    assert set(token["scope"].split()) == {"tools:read", "executions:read"}
    nothing = client.post("/oauth/authorize/", {**form, "allow": "Allow", "scope_choice": []})
    assert "error=access_denied" in nothing["Location"]


def test_sign_in_comes_first(client):
    client_id = register(client)["client_id"]
    answer = client.get(authorize_query(client_id, pkce()[1]))
    assert answer.status_code == 302 and answer["Location"].startswith("/oauth/login/?next=")
    assert client.get(answer["Location"]).status_code == 200


def test_the_admin_lists_grants_with_their_scopes_and_revokes_them(client, user, admin_user):
    from tests.authserver.tokens import oauth_token_row

    _, row = oauth_token_row(user, scope="tools:read", resource=[RESOURCE])
    client.force_login(admin_user)
    listing = client.get("/admin/oauth2_provider/accesstoken/").content.decode()
    assert "tools:read" in listing and RESOURCE in listing

    client.post("/admin/oauth2_provider/accesstoken/", {"action": "revoke_tokens", "_selected_action": [row.pk]})
    assert not AccessToken.objects.filter(pk=row.pk).exists()
