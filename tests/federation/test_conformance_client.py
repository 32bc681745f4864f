"""The official MCP conformance suite's client scenarios against the hub's federation client.

For each scenario the suite starts a mock server and runs ``conformance_client.py``,
which adds that server to the hub (``manage.py mcp_servers add``, ``--oauth`` for
``auth/*`` with the script in the browser's part, and ``connect`` again when a server
wants a wider scope) and calls its tools through the hub's MCP server over stdio: every
request the mock sees comes from the hub. Each spec revision's frozen requirement list runs
whole (``--requirements``), in parallel, on one migrated database.

The scenarios the suite runs beside a list but never scores (extensions such as
client credentials and DPoP) are reported, not asserted.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.mcp_server.conftest import Hub, node_tool, prepare_hub
from tests.mcp_server.test_interop import ANSI, node_env, tail
from tests.processes import stop_group

pytestmark = pytest.mark.slow

WRAPPER = Path(__file__).with_name("conformance_client.py")
REVISIONS = ["2025-11-25", "2026-07-28"]
# Per scenario. They all run at once, each starting two hub processes (and the OAuth
# scenarios a browser flow): on a busy two-core machine that takes minutes.
SCENARIO_TIMEOUT_MS = 360_000
RUN_TIMEOUT = 900


@dataclass
class Run:
    revision: str
    completed: subprocess.CompletedProcess[str]
    results: Path
    scored: list[str]

    def output(self) -> str:
        return ANSI.sub("", self.completed.stdout + self.completed.stderr)

    def checks(self, scenario: str) -> list[dict]:
        """The checks the suite saved for one scenario ([] if it never ran)."""
        found = []
        for path in self.results.glob("**/checks.json"):
            name = path.parent.relative_to(self.results).as_posix()
            if re.fullmatch(re.escape(scenario) + r"-\d{4}-\d\d-\d\dT[\d-]+Z", name):
                found += json.loads(path.read_text())
        return found

    def problems(self, scenarios: list[str]) -> list[str]:
        problems = []
        for scenario in scenarios:
            checks = self.checks(scenario)
            if not checks:
                problems.append(f"{scenario}: did not run")
            for check in checks:
                if check.get("status") in ("FAILURE", "WARNING"):
                    problems.append(f"{scenario}: {check['status']} {check.get('id')}: {check.get('errorMessage')}")
        return problems

    def explain(self, problems: list[str]) -> str:
        logs = []
        for problem in problems[:3]:
            scenario = problem.split(":", 1)[0]
            for stderr in self.results.glob(f"{scenario}-*/stderr.txt"):
                logs.append(f"--- {scenario} (the wrapper and the hub):\n{tail(stderr.read_text(), 3000)}")
        return "\n".join(problems) + "\n\n" + "\n".join(logs) + f"\n\n{tail(self.output(), 3000)}"


def scored_client_scenarios(revision: str, env: dict[str, str]) -> list[str]:
    """The client scenarios a revision requires, as ``conformance list`` names them."""
    listed = subprocess.run(
        [node_tool("node"), _suite(), "list", "--client", "--requirements", revision],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    section = ANSI.sub("", listed).split("Client scenarios (test against a client):", 1)[1]
    section = section.split("Run and reported, but never scored:", 1)[0]
    return re.findall(r"^\s+- (\S+)\s*$", section, re.M)


def _suite() -> str:
    return str(Path(node_tool("node")).parents[1] / "@modelcontextprotocol" / "conformance" / "dist" / "index.js")


def run_requirements(hub: Hub, revision: str, tmp: Path) -> Run:
    env = node_env(
        tmp / "home",
        DATA_DIR=hub.env["DATA_DIR"], DATABASE_URL=hub.env["DATABASE_URL"], LOG_FORMAT="plain",
        MCP_TOKEN=hub.tokens["alice"],
        # Each hub process works with the rows as they are when it starts: no background
        # syncs or checks of the other scenarios' servers (they run at the same time).
        FEDERATION_RELOAD_INTERVAL="0", FEDERATION_HEALTH_INTERVAL="0",
    )
    results = tmp / "results"
    suite = subprocess.Popen(
        [node_tool("node"), _suite(), "client", "--command", f"{sys.executable} {WRAPPER}",
         "--requirements", revision, "--timeout", str(SCENARIO_TIMEOUT_MS), "-o", str(results)],
        cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        stdout, stderr = suite.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop_group(suite)
        stdout, stderr = suite.communicate()
        pytest.fail(f"--requirements {revision} did not finish in {RUN_TIMEOUT} s:\n{tail(stdout)}\n{tail(stderr)}")
    finally:
        # A wrapper the suite gave up on (a timeout) leaves its hub process in our group.
        stop_group(suite)
    completed = subprocess.CompletedProcess(suite.args, suite.returncode, stdout, stderr)
    return Run(revision, completed, results, scored_client_scenarios(revision, env))


@pytest.fixture(scope="module", params=REVISIONS)
def requirements_run(request, tmp_path_factory) -> Run:
    """One run of a revision's whole client requirement list through the hub."""
    revision = request.param
    hub = prepare_hub(tmp_path_factory.mktemp(f"conformance-client-{revision}"))
    return run_requirements(hub, revision, tmp_path_factory.mktemp(f"suite-{revision}"))


def test_every_required_client_scenario_without_oauth_passes_through_the_hub(requirements_run):
    run = requirements_run
    scenarios = [s for s in run.scored if not s.startswith("auth/")]
    assert len(scenarios) >= {"2025-11-25": 4, "2026-07-28": 7}[run.revision], run.scored

    problems = run.problems(scenarios)

    assert not problems, run.explain(problems)


def test_every_required_auth_scenario_passes_through_the_hubs_oauth_client(requirements_run):
    run = requirements_run
    scenarios = [s for s in run.scored if s.startswith("auth/")]
    assert len(scenarios) >= 14, run.scored

    problems = run.problems(scenarios)

    assert not problems, run.explain(problems)


def test_the_suite_scores_the_whole_requirement_list_as_passed(requirements_run):
    run = requirements_run

    # The exit status counts the scored scenarios only (the SUMMARY's total counts all).
    assert "=== SUITE SUMMARY ===" in run.output(), tail(run.output())
    assert run.completed.returncode == 0, run.explain(run.problems(run.scored))
