"""The standalone task pane in a real browser (Debian's Chromium driven by Playwright)
against a real daphne server on the embedded defaults."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.browser import chromium
from tests.processes import free_port, start_worker, stop_group

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module", params=["embedded", pytest.param("worker", marks=pytest.mark.services)])
def server(request, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """A daphne process serving the hub on a fresh SQLite database; yields (base URL, token).

    "embedded": no Redis, background tools run eagerly in daphne. "worker" (with REDIS_URL):
    the Redis channel layer and broker, and a real worker with beat, as `make worker` runs it.
    """
    with running_hub(tmp_path_factory.mktemp("taskpane"), worker=request.param == "worker") as served:
        yield served


MANAGE = [sys.executable, "manage.py"]


@contextmanager
def running_hub(
    data: Path, *, worker: bool = False, prepare: Callable[[dict[str, str]], None] | None = None
) -> Iterator[tuple[str, str]]:
    """Daphne (and with ``worker`` a Celery worker) on a fresh SQLite database in ``data``;
    ``prepare(env)`` runs after the migrations, before the server starts."""
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "CELERY_BROKER_URL")}
    env.update(DATA_DIR=str(data), DATABASE_URL=f"sqlite:///{data / 'db.sqlite3'}", LOG_FORMAT="plain")
    if worker:
        # Redis DB 14: the test process's own cache clearing empties its REDIS_URL database,
        # which would take the broker's queue bindings away from this worker.
        env["REDIS_URL"] = urllib.parse.urlsplit(os.environ["REDIS_URL"])._replace(path="/14").geturl()
    subprocess.run([*MANAGE, "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
    token = subprocess.run(
        [*MANAGE, "create_token", "browser", "--create-user"], cwd=ROOT, env=env, check=True, capture_output=True,
        text=True,
    ).stdout.strip()
    if prepare is not None:
        prepare(env)
    worker_process = start_worker(env, data) if worker else None
    port = free_port()
    with open(data / "daphne.log", "wb") as log:  # daphne writes to its own copy of the file
        daphne = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "mcpsite.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if daphne.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daphne did not start:\n{(data / 'daphne.log').read_text()[-3000:]}")
            time.sleep(0.2)
        yield base, token
    finally:
        daphne.terminate()
        try:
            daphne.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daphne.kill()
        if worker_process is not None:
            stop_group(worker_process)


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def open_pane(browser, base: str, token: str, tool: str):
    """The standalone pane signed in with ``token``, once ``tool`` is in its list."""
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    # Office.js comes from Microsoft's CDN inside Word; here the test stays on loopback,
    # as a browser without Word would run the pane: standalone.
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base) else route.abort())
    page.goto(f"{base}/addin/taskpane/")
    page.wait_for_selector("body[data-mode=standalone]")
    page.fill("#token", token)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#connection[data-state=online]")
    page.wait_for_selector(f"#tool option[value={tool}]", state="attached")
    return page


@pytest.fixture
def pane(server, browser):
    base, token = server
    page = open_pane(browser, base, token, "analyze_document")
    # Every value the progress bars take, in order, per execution.
    page.evaluate(
        """() => {
          window.progressSeen = {};
          new MutationObserver((mutations) => {
            for (const m of mutations) {
              if (m.target.tagName !== "PROGRESS" || !m.target.hasAttribute("value")) continue;
              const id = m.target.closest("li").dataset.executionId || "?";
              (window.progressSeen[id] = window.progressSeen[id] || []).push(m.target.value / m.target.max);
            }
          }).observe(document.getElementById("executions"), {subtree: true, attributes: true,
                                                              attributeFilter: ["value", "max"]});
        }"""
    )
    yield page
    page.close()


def run_tool(page, tool: str, text: str, arguments: str = "{}"):
    # Typed or pasted, the text ends up as the area's value; set it at once for long texts.
    page.eval_on_selector("#document", "(area, text) => { area.value = text; }", text)
    page.select_option("#tool", tool)
    page.fill("#arguments", arguments)
    before = page.locator("#executions li").count()
    page.click("#run")
    page.wait_for_function(f"document.querySelectorAll('#executions li').length > {before}")
    execution = page.locator("#executions li").first
    page.wait_for_function(
        "() => document.querySelector('#executions li').dataset.executionId !== undefined"
    )
    return execution


def test_it_signs_in_and_runs_text_statistics_on_the_text_area(pane):
    execution = run_tool(pane, "text_statistics", "The task pane works. It counts these words.")
    pane.wait_for_selector("#executions li[data-status=success]")
    # Statistics as a small table; the raw JSON one click away.
    rows = execution.locator("table.stats").evaluate(
        "(table) => Object.fromEntries("
        "[...table.rows].map((row) => [row.cells[0].textContent, row.cells[1].textContent]))"
    )
    assert rows["Words"] == "8" and rows["Sentences"] == "2"
    assert execution.locator(".execution-result").is_hidden()
    execution.locator(".execution-raw summary").click()
    assert '"words": 8' in execution.locator(".execution-result").inner_text()
    assert execution.locator(".execution-progress").evaluate("bar => bar.value === bar.max")


def test_analyze_document_moves_the_progress_bar_then_shows_the_result(pane):
    text = "\n\n".join(f"Section {n} talks about things. " + "It has plain sentences in it. " * 12 for n in range(12))
    execution = run_tool(pane, "analyze_document", text, '{"section_words": 60, "analyses": ["statistics"]}')
    pane.wait_for_selector("#executions li[data-status=success]")
    execution_id = execution.get_attribute("data-execution-id")
    seen = pane.evaluate(f"window.progressSeen[{execution_id!r}]")
    assert len(set(seen)) >= 3, seen
    assert seen == sorted(seen) and seen[-1] == 1
    assert '"sections":' in execution.locator(".execution-result").text_content()


def test_a_run_can_be_cancelled_from_the_pane(pane):
    # 600 sections: long enough to cancel, within analyze_document's 300,000 characters.
    text = "\n\n".join(f"Part {n}. " + "Many words make a long document to analyse. " * 10 for n in range(600))
    execution = run_tool(
        pane, "analyze_document", text, '{"section_words": 50, "analyses": ["statistics", "keywords"]}'
    )
    pane.wait_for_selector("#executions li[data-status=running] .execution-message:not(:empty)")
    execution.locator(".cancel").click()
    pane.wait_for_selector("#executions li[data-status=cancelled]")
    assert execution.locator(".cancel").is_hidden()
    assert "Cancelled" in execution.locator(".execution-error").inner_text()


def test_a_run_resumes_after_the_connection_drops(pane):
    text = "\n\n".join(f"Chapter {n}. " + "Long texts take a while to analyse here. " * 10 for n in range(600))
    execution = run_tool(
        pane, "analyze_document", text, '{"section_words": 50, "analyses": ["statistics", "keywords"]}'
    )
    execution_id = execution.get_attribute("data-execution-id")
    pane.wait_for_selector("#executions li[data-status=running] .execution-message:not(:empty)")
    # A reload drops the socket; the pane signs in again from its session and resubscribes.
    pane.reload()
    pane.wait_for_selector("#connection[data-state=online]")
    resumed = pane.locator(f"#executions li[data-execution-id='{execution_id}']")
    resumed.wait_for()
    pane.wait_for_selector(f"#executions li[data-execution-id='{execution_id}'][data-status=success]")
    assert '"sections":' in resumed.locator(".execution-result").text_content()


def finished(pane, tool: str, text: str, arguments: str = "{}"):
    execution = run_tool(pane, tool, text, arguments)
    execution_id = execution.get_attribute("data-execution-id")
    pane.wait_for_selector(f"#executions li[data-execution-id='{execution_id}'][data-status=success]")
    return execution


def document_text(pane) -> str:
    return pane.input_value("#document")


def test_every_spelling_suggestion_is_offered_with_a_preview(pane):
    execution = finished(pane, "spell_check", "We planted a gardn near the house.")
    [proposal] = execution.locator(".proposal").all()
    choices = proposal.locator("select.choice option").all_inner_texts()
    assert len(choices) > 1 and choices[0] == "garden", choices
    assert proposal.locator(".preview del").inner_text() == "gardn"
    assert proposal.locator(".preview ins").inner_text() == "garden"
    # Picking another suggestion changes the preview, and that one is applied.
    other = choices[1]
    proposal.locator("select.choice").select_option(other)
    assert proposal.locator(".preview ins").inner_text() == other
    proposal.locator("button.apply").click()
    pane.wait_for_selector(".proposal[data-state=applied]")
    assert document_text(pane) == f"We planted a {other} near the house."


def test_ignore_leaves_a_word_and_apply_all_applies_the_rest(pane):
    execution = finished(pane, "spell_check", "Teh cat sat on teh mat by the hosue.")
    proposals = execution.locator(".proposal")
    assert proposals.count() == 3
    assert execution.locator("button.apply-all").inner_text() == "Apply all (3)"
    proposals.nth(1).locator("button.ignore").click()  # the second "teh"
    assert proposals.nth(1).get_attribute("data-state") == "ignored"
    assert execution.locator("button.apply-all").inner_text() == "Apply all (2)"
    execution.locator("button.apply-all").click()
    pane.wait_for_function("document.querySelectorAll('.proposal[data-state=applied]').length === 2")
    assert document_text(pane) == "The cat sat on teh mat by the house."
    assert execution.locator("button.apply-all").is_disabled()


def test_an_edit_is_found_again_after_the_user_typed_before_it(pane):
    execution = finished(pane, "spell_check", "Our gardn is green. The gardn is big.")
    second = execution.locator(".proposal").nth(1)
    # The user keeps writing before the words while the results are on screen.
    pane.focus("#document")
    pane.keyboard.press("Control+Home")
    pane.keyboard.type("Spring came. ")
    assert document_text(pane).startswith("Spring came. Our gardn")
    second.locator("button.apply").click()
    pane.wait_for_selector(".proposal[data-state=applied]")
    # The second one, not the first, though every offset moved by 13 characters.
    assert document_text(pane) == "Spring came. Our gardn is green. The garden is big."


def test_an_edit_whose_text_is_gone_is_skipped_with_a_note(pane):
    execution = finished(pane, "spell_check", "A smal house. A tiny tre.")
    pane.eval_on_selector("#document", "(area) => { area.value = 'A smal house. A tiny tree.'; }")
    execution.locator("button.apply-all").click()
    pane.wait_for_selector(".proposal[data-state=skipped]")
    assert document_text(pane) == "A small house. A tiny tree."
    skipped = execution.locator(".proposal[data-state=skipped]")
    assert skipped.get_attribute("data-word") == "tre"
    assert "no longer in the text" in skipped.locator(".proposal-note").inner_text()
    assert "skipped" in execution.locator(".execution-notes").inner_text()


def test_find_and_replace_edits_are_previewed_and_applied(pane):
    execution = finished(
        pane, "find_replace", "One cat, two cats, a cat.", '{"find": "cat", "replace": "dog", "whole_word": true}'
    )
    proposals = execution.locator(".proposal")
    assert proposals.count() == 2
    assert proposals.first.locator(".preview del").inner_text() == "cat"
    assert proposals.first.locator(".preview ins").inner_text() == "dog"
    execution.locator("button.apply-all").click()
    pane.wait_for_function("document.querySelectorAll('.proposal[data-state=applied]').length === 2")
    assert document_text(pane) == "One dog, two cats, a dog."


def test_summary_keywords_and_language_read_as_text(pane):
    text = ("Bees pollinate flowers in the garden. Honey bees live in hives. "
            "A hive holds thousands of bees. The garden needs bees to bear fruit.")
    summary = finished(pane, "summarize", text, '{"sentences": 1}')
    assert summary.locator(".readable").first.inner_text() in text
    keywords = finished(pane, "extract_keywords", text)
    assert keywords.locator("ul.keywords li").count() >= 3
    assert "bees" in keywords.locator("ul.keywords").inner_text().lower()
    language = finished(pane, "detect_language", text)
    assert language.locator(".readable").inner_text().startswith("English (en), confidence")


def test_the_pane_at_1280_px_keeps_its_header_on_one_line_and_results_beside_the_text(pane):
    pane.set_viewport_size({"width": 1280, "height": 900})
    finished(pane, "spell_check", "Teh results sit beside the text.")
    shots = ROOT / "data" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    pane.screenshot(path=str(shots / "taskpane-1280.png"), full_page=True)
    title = pane.locator("#pane-header h1").bounding_box()
    badge = pane.locator("#connection").bounding_box()
    assert title["height"] < 30, title  # one line
    assert abs((badge["y"] + badge["height"] / 2) - (title["y"] + title["height"] / 2)) < 10  # same row
    text = pane.locator("#document-column").bounding_box()
    results = pane.locator("#results-column").bounding_box()
    assert results["x"] >= text["x"] + text["width"], (text, results)
    assert pane.locator(".proposal").first.bounding_box()["y"] < text["y"] + text["height"]
    # Word's options are shown, with the note that standalone edits go straight in.
    assert pane.locator("#opt-track").is_visible() and pane.locator("#options-note").is_visible()


# --- In Word -------------------------------------------------------------------------------
# Word cannot run here: tests/realtime/fake_word.js stands in for Office.js (a mock, the
# only one in these tests), holding the document as a string and recording tracked
# changes and comments the way Word's API reports them.

FAKE_WORD = Path(__file__).with_name("fake_word.js")


@pytest.fixture
def word_pane(server, browser):
    base, token = server
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base) else route.abort())
    page.add_init_script(path=str(FAKE_WORD))
    page.goto(f"{base}/addin/taskpane/")
    page.wait_for_selector("body[data-mode=word]")
    page.fill("#token", token)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#connection[data-state=online]")
    page.wait_for_selector("#tool option[value=spell_check]", state="attached")
    yield page
    page.close()


def run_in_word(page, tool: str, text: str, arguments: str = "{}"):
    page.evaluate("(text) => { window.fakeWord.text = text; }", text)
    page.select_option("#tool", tool)
    page.fill("#arguments", arguments)
    before = page.locator("#executions li").count()
    page.click("#run")
    page.wait_for_function(f"document.querySelectorAll('#executions li').length > {before}")
    page.wait_for_selector("#executions li[data-status=success]")
    return page.locator("#executions li").first


def word(page) -> dict:
    return page.evaluate("() => JSON.parse(JSON.stringify(window.fakeWord))")


def test_in_word_edits_go_in_as_tracked_changes_and_the_users_mode_comes_back(word_pane):
    assert word_pane.locator("#standalone").is_hidden() and word_pane.locator("#options-note").is_hidden()
    execution = run_in_word(word_pane, "spell_check", "Teh cat sat on teh mat.")
    word_pane.evaluate("() => { window.fakeWord.changeTrackingMode = 'TrackMineOnly'; }")
    word_pane.check("#opt-comment")
    execution.locator("button.apply-all").click()
    word_pane.wait_for_function("document.querySelectorAll('.proposal[data-state=applied]').length === 2")
    state = word(word_pane)
    assert state["text"] == "The cat sat on the mat."
    assert [(c["original"], c["text"], c["mode"]) for c in state["changes"]] == [
        ("Teh", "The", "TrackAll"), ("teh", "the", "TrackAll"),
    ]
    assert state["changeTrackingMode"] == "TrackMineOnly"  # restored
    assert [c["on"] for c in state["comments"]] == ["The", "the"]
    assert all("Possible misspelling" in c["text"] for c in state["comments"])


def test_in_word_tracking_can_be_left_off(word_pane):
    execution = run_in_word(word_pane, "spell_check", "A smal house.")
    word_pane.uncheck("#opt-track")
    execution.locator("button.apply").click()
    word_pane.wait_for_selector(".proposal[data-state=applied]")
    state = word(word_pane)
    assert state["text"] == "A small house." and state["changes"] == [] and state["changeTrackingMode"] == "Off"


def test_in_word_spelling_issues_can_be_comments_instead_of_edits(word_pane):
    execution = run_in_word(word_pane, "spell_check", "Teh garden is smal.")
    word_pane.check("#opt-spelling-comments")
    execution.locator("button.apply-all").click()
    word_pane.wait_for_function("document.querySelectorAll('.proposal[data-state=commented]').length === 2")
    state = word(word_pane)
    assert state["text"] == "Teh garden is smal."  # untouched
    assert [c["on"] for c in state["comments"]] == ["Teh", "smal"]
    assert state["changes"] == []


def test_in_word_an_edit_is_found_again_after_typing_and_a_gone_one_is_skipped(word_pane):
    execution = run_in_word(word_pane, "spell_check", "Our gardn is green.\nThe gardn is big.\nA smal tree.")
    # The writer adds a paragraph at the top and rewrites the last one meanwhile.
    word_pane.evaluate(
        "() => { window.fakeWord.text = 'Spring came.\\nOur gardn is green.\\nThe gardn is big.\\nA tall tree.'; }"
    )
    proposals = execution.locator(".proposal")
    proposals.nth(1).locator("button.apply").click()  # the second "gardn"
    word_pane.wait_for_selector(".proposal[data-state=applied]")
    assert word(word_pane)["text"] == "Spring came.\nOur gardn is green.\nThe garden is big.\nA tall tree."
    proposals.nth(2).locator("button.apply").click()  # "smal", which is gone
    word_pane.wait_for_selector(".proposal[data-state=skipped]")
    assert "no longer in the text" in proposals.nth(2).locator(".proposal-note").inner_text()
