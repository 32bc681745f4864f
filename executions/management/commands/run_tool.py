from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from executions.models import Session, ToolExecution, Via
from executions.services import ExecutionRejected, execute_tool, session_end, session_start


class Command(BaseCommand):
    help = "Run a tool through the execution service and print its result as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The tool's name (see list_tools).")
        parser.add_argument("--args", dest="arguments_json", default="{}", help='The arguments as a JSON object, e.g. \'{"text": "Hi."}\'.')
        parser.add_argument("--user", help="Run as this user (default: the first active superuser).")
        parser.add_argument("--wait", type=float, default=900.0, help="Seconds to wait for a background tool.")

    def handle(self, *args: object, name: str, **options: object) -> None:
        try:
            arguments = json.loads(options["arguments_json"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--args is not valid JSON: {exc}") from None
        user = self._user(options["user"])
        session = session_start(user=user, kind=Session.Kind.CLI, client_info={"command": "run_tool"})
        try:
            try:
                execution = execute_tool(user=user, tool_name=name, arguments=arguments, via=Via.CLI, session=session)
            except ExecutionRejected as exc:
                raise CommandError(exc.message) from None
            execution = self._wait(execution, options["wait"])
        finally:
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

    def _wait(self, execution: ToolExecution, timeout: float) -> ToolExecution:
        """Background tools on a real worker: poll the row, showing progress on stderr."""
        deadline = time.monotonic() + timeout
        last = None
        while not execution.is_final:
            if time.monotonic() > deadline:
                raise CommandError(f"Still {execution.status} after {timeout:g} s (execution {execution.id}).")
            if execution.progress is not None and execution.progress != last:
                last = execution.progress
                total = f"/{execution.progress_total:g}" if execution.progress_total else ""
                self.stderr.write(f"progress {execution.progress:g}{total} {execution.progress_message}")
            time.sleep(0.3)
            execution.refresh_from_db()
        return execution
