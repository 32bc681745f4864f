from __future__ import annotations

import pytest
from django.core.cache import cache

from accounts.models import User
from accounts.services import token_create


@pytest.fixture(autouse=True)
def _clear_cache():
    # Rate-limit counters and cached results must not leak from one test to the next.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def user(db) -> User:
    return User.objects.create_user(username="alice", email="alice@example.com", password="pw-alice-123")


@pytest.fixture
def admin_user(db) -> User:
    return User.objects.create_user(
        username="root", email="root@example.com", password="pw-root-123", role=User.Role.ADMIN, is_staff=True,
        is_superuser=True,
    )


@pytest.fixture
def token(user) -> str:
    return token_create(user=user, name="test")[1]


@pytest.fixture
def api_client(token):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
