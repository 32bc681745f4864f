"""A remote tool's question shown in the task pane as a form, in a real browser (Chromium
driven by Playwright) against a real daphne whose remote server is the federation tests'
Python SDK server."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from collections.abc import Iterator

import pytest

from tests.federation.conftest import stdio_command
from tests.realtime.test_taskpane_browser import MANAGE, ROOT, browser, open_pane, running_hub  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    def add_remote(env: dict[str, str]) -> None:
        # A 2025-11-25 server: it sends elicitation/create in the middle of its call.
        subprocess.run([*MANAGE, "mcp_servers", "add", "py", "--command", stdio_command("stdio-legacy")],
                       cwd=ROOT, env=env, check=True, capture_output=True)

    with running_hub(tmp_path_factory.mktemp("pane-elicitation"), prepare=add_remote) as served:
        yield served


@pytest.fixture
def pane(server, browser):  # noqa: F811
    base, token = server
    page = open_pane(browser, base, token, "py__ask")
    yield page
    page.close()


def ask(page, kind: str):
    page.select_option("#tool", "py__ask")
    page.fill("#arguments", f'{{"kind": "{kind}"}}')
    page.click("#run")
    form = page.locator("#executions li form.question").first
    form.wait_for()
    return page.locator("#executions li").first, form


def answer_of(execution) -> dict:
    """What the remote got back, from its result ({"answer": "action='accept' content={...}"})."""
    execution.page.wait_for_selector("#executions li[data-status=success]")
    # An answer of no known shape: the pane shows its raw JSON, opened.
    assert execution.locator(".execution-result").is_visible()
    answer = json.loads(execution.locator(".execution-result").inner_text())["answer"]
    action = re.search(r"action='(\w+)'", answer)
    content = re.search(r"content=(\{.*\}|None)", answer)
    assert action and content, answer
    return {"action": action.group(1), "content": ast.literal_eval(content.group(1))}


def test_a_person_fills_the_form_and_the_remote_gets_typed_values(pane):
    execution, form = ask(pane, "form")

    assert form.locator(".question-message").inner_text() == "Book a table"
    name = form.locator("[data-field=name]")
    assert name.locator("label").inner_text() == "Your name *"
    assert name.locator(".field-description").inner_text() == "As on the booking"
    guests = form.locator("[data-field=guests] input")
    assert guests.get_attribute("type") == "number" and guests.input_value() == "2"  # the default
    outside = form.locator("[data-field=outside] input[type=checkbox]")
    assert not outside.is_checked()
    time = form.locator("[data-field=time] select")
    assert time.locator("option").all_inner_texts() == ["—", "Seven", "Nine"]

    # Required and empty: the browser keeps the form from going out.
    form.locator("button.answer-accept").click()
    assert form.is_visible()
    name.locator("input").fill("Ada <b>Lovelace</b>")
    guests.fill("4")
    outside.check()
    time.select_option(label="Nine")
    shots = ROOT / "data" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    pane.screenshot(path=str(shots / "taskpane-question.png"), full_page=True)
    form.locator("button.answer-accept").click()

    form.wait_for(state="detached")
    assert answer_of(execution) == {
        "action": "accept",
        "content": {"name": "Ada <b>Lovelace</b>", "guests": 4, "outside": True, "time": "21:00"},
    }


def test_a_declined_question_goes_back_as_a_decline(pane):
    execution, form = ask(pane, "elicitation")

    assert form.locator(".question-message").inner_text() == "Your name?"
    form.locator("button.answer-decline").click()

    form.wait_for(state="detached")
    assert answer_of(execution)["action"] == "decline"


def test_the_question_goes_away_when_its_call_is_cancelled(pane):
    execution, _form = ask(pane, "elicitation")

    execution.locator(".cancel").click()

    pane.wait_for_selector("#executions li[data-status=cancelled]")
    assert execution.locator("form.question").count() == 0
