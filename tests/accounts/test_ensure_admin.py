"""`manage.py ensure_admin`: the first admin, from `make run` or a container's first start."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_admin_env(monkeypatch):
    for name in ("ADMIN_USERNAME", "ADMIN_PASSWORD", "ADMIN_EMAIL", "HOST", "PORT"):
        monkeypatch.delenv(name, raising=False)


def ensure_admin(*args: str) -> str:
    out = io.StringIO()
    call_command("ensure_admin", *args, stdout=out)
    return out.getvalue()


def test_it_prints_the_generated_password_once_in_a_box_with_the_sign_in_url():
    output = ensure_admin()
    lines = output.strip().splitlines()
    assert lines[0].startswith("+-") and lines[-1].startswith("+-")
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[1:-1])
    [password] = [line.strip("| ") for line in lines if line.startswith("|     ") and line.strip("| ")]
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    assert "http://127.0.0.1:8000/admin/" in output
    assert "manage.py changepassword admin" in output
    assert ensure_admin() == ""  # shown only this once


def test_the_url_names_the_host_and_port_the_hub_is_served_on(monkeypatch):
    monkeypatch.setenv("PORT", "8014")
    assert "http://127.0.0.1:8014/admin/" in ensure_admin()


def test_the_command_line_host_and_port_win_and_a_wildcard_host_is_shown_as_loopback():
    assert "http://127.0.0.1:9000/admin/" in ensure_admin("--host", "0.0.0.0", "--port", "9000")


def test_it_takes_the_admin_from_environment_variables_without_printing_the_password(monkeypatch):
    monkeypatch.setenv("ADMIN_USERNAME", "ops")
    monkeypatch.setenv("ADMIN_PASSWORD", "a-long-secret-from-env")
    monkeypatch.setenv("ADMIN_EMAIL", "ops@example.com")
    output = ensure_admin()
    admin = User.objects.get(username="ops")
    assert admin.is_superuser and admin.is_staff and admin.role == User.Role.ADMIN
    assert admin.check_password("a-long-secret-from-env") and admin.email == "ops@example.com"
    assert "a-long-secret-from-env" not in output and "ADMIN_PASSWORD" in output


def test_a_restart_never_changes_an_existing_admin(monkeypatch, admin_user):
    monkeypatch.setenv("ADMIN_PASSWORD", "another-password")
    assert ensure_admin() == ""
    admin_user.refresh_from_db()
    assert admin_user.check_password("pw-root-123")
    assert User.objects.filter(is_superuser=True).count() == 1
