from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandParser

from executions.policy import tool_policy
from tools.registry import registry


class Command(BaseCommand):
    help = "List the registered tools with their mode, limits and whether they are enabled."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the full descriptions as JSON.")

    def handle(self, *args: object, **options: object) -> None:
        tools = registry.all()
        if options["json"]:
            self.stdout.write(json.dumps([t.describe() for t in tools], indent=2))
            return
        for tool in tools:
            policy = tool_policy(tool)
            flags = [str(tool.mode), f"timeout {policy.timeout:g}s"]
            if policy.cache_ttl:
                flags.append(f"cache {policy.cache_ttl}s")
            if not policy.enabled:
                flags.append("DISABLED")
            if not tool.available:
                flags.append("UNAVAILABLE")
            self.stdout.write(f"{tool.name:32} {tool.title}  [{', '.join(flags)}]")
