"""The sign-in and consent pages of the hub's authorization server, in the admin's look.

The OAuth endpoints themselves (authorize, token, revoke, registration, metadata) are
django-oauth-toolkit's views; only the pages a person sees are the hub's own.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from oauth2_provider.scopes import get_scopes_backend
from oauth2_provider.views import AuthorizationView

from accounts.services import SCOPE_EXECUTIONS_READ, SCOPE_TOOLS_CALL, SCOPE_TOOLS_READ
from executions.policy import tools_for_user


class HubLoginView(LoginView):
    """Django's own sign-in, on the admin's login page (any active user, not only staff)."""

    template_name = "authserver/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(admin.site.each_context(self.request))
        context.update(app_path=self.request.get_full_path(), title="Sign in", site_header="mcpsite: sign in")
        return context


class HubAuthorizationView(AuthorizationView):
    """Consent: names the client, where it is sent back to, the scopes and the tools they reach."""

    template_name = "authserver/authorize.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(admin.site.each_context(self.request))
        scopes = set(context.get("scopes") or [])
        all_scopes = get_scopes_backend().get_all_scopes()
        tools = tools_for_user(self.request.user) if scopes & {SCOPE_TOOLS_READ, SCOPE_TOOLS_CALL} else []
        redirect_uri = context.get("redirect_uri") or ""
        application = context.get("application")
        context.update(
            title="Allow access?",
            client_name=(
                application.name if application is not None and application.name else context.get("client_id", "")
            ),
            client_id_is_url=str(context.get("client_id", "")).startswith("https://"),
            redirect_host=urlsplit(redirect_uri).netloc or redirect_uri,
            tools=tools,
            can_call=SCOPE_TOOLS_CALL in scopes,
            can_list=SCOPE_TOOLS_READ in scopes,
            can_read_executions=SCOPE_EXECUTIONS_READ in scopes,
            resources=(self.oauth2_data.get("resource") or "").split() if hasattr(self, "oauth2_data") else [],
            scope_choices=[(scope, all_scopes.get(scope, scope)) for scope in context.get("scopes") or []],
        )
        return context

    def render_to_response(self, context: dict[str, Any], **kwargs: Any) -> HttpResponse:
        # Error pages come here without get_context_data: they get the site's frame too.
        return super().render_to_response(
            {**admin.site.each_context(self.request), "title": "Allow access?", **context}, **kwargs
        )

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # The person may grant less than the client asked for: only the ticked scopes (a
        # subset of those asked for) go into the grant; none ticked is a refusal.
        # The marker says the page showed the boxes: no box ticked (nothing sent) is then a refusal.
        if "scope_choices_shown" in request.POST:
            data = request.POST.copy()
            chosen = set(data.getlist("scope_choice"))
            granted = [scope for scope in data.get("scope", "").split() if scope in chosen]
            if granted:
                data["scope"] = " ".join(granted)
            else:
                data.pop("allow", None)
            request.POST = data  # type: ignore[assignment]
        return super().post(request, *args, **kwargs)
