"""Open connections follow their credential: revoking (deleting) an API token, or
deactivating or deleting a user, closes the task pane sockets opened with it, in every
serving process (through the channel layer; with Redis that reaches every replica).

A socket joins ``credential_group(token_key)`` and ``user_group(user_id)`` when it signs
in and handles ``credential.revoked`` by closing with 4001 and the reason. Expiry needs no
message: the socket schedules its own close for the token's expiry time.

Every change to a token or a user also empties the processes' caches of token checks
(``mcpsite.processcache``), so that the next request of a revoked token is refused.
"""

from __future__ import annotations

import hashlib
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from oauth2_provider.models import get_access_token_model

from accounts.models import APIToken, User
from mcpsite import processcache

logger = logging.getLogger(__name__)

REVOKED_EVENT = "credential.revoked"


def credential_group(token_key: str) -> str:
    # Group names allow [a-zA-Z0-9._-] and at most 100 characters: hash the key.
    return "credential." + hashlib.sha256(token_key.encode()).hexdigest()[:40]


def user_group(user_id: object) -> str:
    return f"user.{user_id}"


def announce(group: str, reason: str) -> None:
    """Tell every socket in ``group`` to close, once the change is committed."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(group, {"type": REVOKED_EVENT, "reason": reason, "group": group})
        except Exception:  # the layer down must not undo a revocation; the next frame re-checks the token
            logger.warning("could not tell open sockets of %s to close", group, exc_info=True)

    transaction.on_commit(send)


@receiver(post_delete, sender=APIToken, dispatch_uid="accounts.revocation.token_deleted")
def _token_deleted(sender: type, instance: APIToken, **kwargs: object) -> None:
    processcache.invalidate()
    announce(credential_group(instance.token_key), "The token was revoked.")


@receiver(post_save, sender=APIToken, dispatch_uid="accounts.revocation.token_saved")
@receiver([post_save, post_delete], sender=get_access_token_model(), dispatch_uid="accounts.revocation.oauth_token")
def _token_changed(sender: type, instance: object, created: bool = False, **kwargs: object) -> None:
    if not created:  # a new token is in no cache yet
        processcache.invalidate()


@receiver(post_save, sender=User, dispatch_uid="accounts.revocation.user_saved")
def _user_saved(sender: type, instance: User, created: bool, **kwargs: object) -> None:
    if created:
        return
    processcache.invalidate()  # a role, an activation: what cached token checks hold
    if not instance.is_active:
        announce(user_group(instance.pk), "The account was deactivated.")


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="accounts.revocation.user_groups")
def _user_groups_changed(action: str, **kwargs: object) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        processcache.invalidate()


@receiver(post_delete, sender=User, dispatch_uid="accounts.revocation.user_deleted")
def _user_deleted(sender: type, instance: User, **kwargs: object) -> None:
    processcache.invalidate()
    announce(user_group(instance.pk), "The account was deleted.")
