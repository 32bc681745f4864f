from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import APIToken, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "role", "is_active", "is_staff", "last_login")
    list_filter = ("role", "is_active", "is_staff")
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("Hub", {"fields": ("role",)}))
    add_fieldsets = (*BaseUserAdmin.add_fieldsets, ("Hub", {"fields": ("email", "role")}))


@admin.register(APIToken)
class APITokenAdmin(admin.ModelAdmin):
    list_display = ("name", "token_key", "user", "scope_list", "created", "expiry", "last_used")
    list_filter = ("user",)
    search_fields = ("name", "token_key", "user__username")
    readonly_fields = ("token_key", "digest", "user", "scopes", "created", "last_used")
    fields = ("name", "user", "token_key", "scopes", "created", "expiry", "last_used")

    @admin.display(description="scopes")
    def scope_list(self, obj: APIToken) -> str:
        return obj.scopes or "all"

    def has_add_permission(self, request: object) -> bool:
        # The token text is shown only once; create tokens with `manage.py create_token`.
        return False
