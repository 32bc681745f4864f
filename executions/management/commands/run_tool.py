from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from executions import awaiting
from executions.models import Session, ToolExecution, Via
from executions.policy import ExecutionRejected
from executions.services import CallHooks, execute_tool, session_end, session_start


class Command(BaseCommand):
    help = "Run a tool through the execution service and print its result as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The tool's name (see list_tools).")
        parser.add_argument(
            "--args", dest="arguments_json", default="{}",
            help='The arguments as a JSON object, e.g. \'{"text": "Hi."}\'.',
        )
        parser.add_argument("--user", help="Run as this user (default: the first active superuser).")
        parser.add_argument("--wait", type=float, default=900.0, help="Seconds to wait for a background tool.")

    def handle(
        self, *args: object, name: str, arguments_json: str, user: str | None, wait: float, **options: object
    ) -> None:
        try:
            arguments = json.loads(arguments_json)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--args is not valid JSON: {exc}") from None
        caller = self._user(user)
        session = session_start(user=caller, kind=Session.Kind.CLI, client_info={"command": "run_tool"})
        watch: list[awaiting.ExecutionWatch] = []

        def on_created(execution: ToolExecution) -> None:
            # A worker will run it: watch its events before the task is sent.
            found = awaiting.watch_for_worker(execution)
            if found is not None:
                found.open_blocking()
                watch.append(found)

        try:
            try:
                execution = execute_tool(
                    user=caller, tool_name=name, arguments=arguments, via=Via.CLI, session=session,
                    hooks=CallHooks(on_created=on_created),
                )
            except ExecutionRejected as exc:
                raise CommandError(exc.message) from None
            if watch:
                execution = self._wait(watch[0], execution, wait)
        finally:
            for w in watch:
                w.stop()  # a no-op once the wait closed it
            session_end(session=session)
        if execution.status != ToolExecution.Status.SUCCESS:
            raise CommandError(f"{execution.status}: {execution.error or 'no result'} (execution {execution.id})")
        self.stdout.write(json.dumps(execution.result, indent=2, ensure_ascii=False))

    def _user(self, username: str | None) -> User:
        if username:
            user = User.objects.filter(username=username, is_active=True).first()
            if user is None:
                raise CommandError(f"No active user {username!r}.")
            return user
        user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if user is None:
            raise CommandError("No superuser exists yet; pass --user USERNAME.")
        return user

    def _wait(self, watch: awaiting.ExecutionWatch, execution: ToolExecution, timeout: float) -> ToolExecution:
        """A background tool on a real worker: wait as every door does, progress on stderr."""

        async def show(event: dict[str, Any]) -> None:
            if event.get("type") == "execution.progress":
                total = f"/{event['total']:g}" if event.get("total") else ""
                self.stderr.write(f"progress {event['progress']:g}{total} {event.get('message') or ''}")

        final = awaiting.wait_blocking(watch, timeout, known=execution, on_event=show)
        if final is None:
            status = ToolExecution.objects.filter(pk=execution.pk).values_list("status", flat=True).first()
            raise CommandError(f"Still {status} after {timeout:g} s (execution {execution.id}).")
        return final
