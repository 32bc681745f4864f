"""A saved or deleted RemoteServer row changes the registry in this process at once."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tools.federation import runtime
from tools.federation.models import RemoteServer
from tools.federation.services import remote_server_forget, remote_server_register, signals_are_quiet


@receiver(post_save, sender=RemoteServer)
def remote_server_saved(sender: type[RemoteServer], instance: RemoteServer, **kwargs: object) -> None:
    quiet = signals_are_quiet()
    name, updated = instance.name, instance.updated

    def after_commit() -> None:
        server = RemoteServer.objects.filter(name=name).first()
        if server is None:
            return
        runtime.note_row(name, updated)
        remote_server_register(server=server)
        if not quiet and server.enabled:
            # The admin and the API save; connecting can take seconds, so not in the request.
            runtime.schedule_sync(name)

    transaction.on_commit(after_commit)


@receiver(post_delete, sender=RemoteServer)
def remote_server_deleted(sender: type[RemoteServer], instance: RemoteServer, **kwargs: object) -> None:
    name, pk = instance.name, instance.pk

    def after_commit() -> None:
        runtime.note_row(name, None)
        remote_server_forget(name=name, server_id=pk)

    transaction.on_commit(after_commit)
