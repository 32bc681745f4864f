"""A background tool for the worker tests, registered in the test process and in the
worker process (see worker_main.py), so that both sides resolve it by name."""

from __future__ import annotations

import os
import time

from pydantic import BaseModel

from tools.base import Mode, Tool, ToolContext
from tools.registry import registry


class StepsInput(BaseModel):
    steps: int = 10
    delay: float = 0.1
    # Each run appends a line here: how the tests count runs across processes.
    marker_file: str = ""


class Steps(Tool):
    name = "test_steps"
    description = "Takes `steps` steps of `delay` seconds, reporting progress and checking for cancellation."
    input_model = StepsInput
    mode = Mode.BACKGROUND

    def run(self, arguments: StepsInput, ctx: ToolContext) -> dict:
        if arguments.marker_file:
            with open(arguments.marker_file, "a") as marker:
                marker.write(f"run in {os.getpid()}\n")
        for step in range(arguments.steps):
            ctx.report_progress(step, arguments.steps, f"step {step + 1}")
            ctx.raise_if_cancelled()
            time.sleep(arguments.delay)
        ctx.report_progress(arguments.steps, arguments.steps, "done")
        return {"steps": arguments.steps}


class Runaway(Tool):
    name = "test_runaway"
    description = "Spins forever without looking at its context (writes its pid to the marker first)."
    input_model = StepsInput
    mode = Mode.BACKGROUND
    timeout = 2

    def run(self, arguments: StepsInput, ctx: ToolContext) -> dict:
        with open(arguments.marker_file, "a") as marker:
            marker.write(f"run in {os.getpid()}\n")
        spins = 0
        while True:
            spins += 1


def register() -> None:
    registry.register(Steps, replace=True)
    registry.register(Runaway, replace=True)
