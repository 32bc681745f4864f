// The mcpsite task pane: signs in with a token, lists the hub's tools and runs them on the
// document over the /ws/addin/ WebSocket (protocol in DESIGN.md). Inside Word it reads and
// edits the document through Office.js; in an ordinary browser (no Office.js) a text area
// stands in for the document ("standalone mode"). No build step: plain ES2020.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "mcpsite.addin.token";
  const RUNNING_KEY = "mcpsite.addin.running";
  const FINAL = new Set(["success", "error", "timeout", "cancelled"]);
  // Close codes of the server (README): a bad or missing token ends the session.
  const CLOSE_UNAUTHENTICATED = 4001;

  const state = {
    ws: null,
    authenticated: false,
    tools: [],
    nextId: 1,
    retryDelay: 500,
    reconnectTimer: null,
    pingTimer: null,
    requests: new Map(), // request id -> execution record, until execution_accepted
    executions: new Map(), // execution id -> execution record
  };

  // --- The document: Word, or the standalone text area ----------------------------------

  const standaloneDocument = {
    async read() {
      const area = $("document");
      const start = area.selectionStart;
      const end = area.selectionEnd;
      if (end > start) return { text: area.value.slice(start, end), range: { start, end } };
      return { text: area.value, range: { start: 0, end: area.value.length } };
    },
    async applyEdits(source, result) {
      const area = $("document");
      const { start, end } = source.range;
      if (area.value.slice(start, end) !== source.text) throw new Error("The text changed since the tool ran.");
      area.value = area.value.slice(0, start) + result.text + area.value.slice(end);
    },
    async replaceWord(word, replacement) {
      const area = $("document");
      const pattern = new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(word)}(?![\\p{L}\\p{N}])`, "u");
      if (!pattern.test(area.value)) throw new Error(`"${word}" is no longer in the text.`);
      area.value = area.value.replace(pattern, replacement);
    },
  };

  const wordDocument = {
    async read() {
      return Word.run(async (context) => {
        const selection = context.document.getSelection();
        selection.load("text");
        await context.sync();
        if (selection.text) return { text: selection.text, target: "selection" };
        const body = context.document.body;
        body.load("text");
        await context.sync();
        return { text: body.text, target: "body" };
      });
    },
    async applyEdits(source, result) {
      // Edit match by match so the rest of the document keeps its formatting. Word finds
      // the n-th occurrence of the matched text; the edit says which one it was.
      await Word.run(async (context) => {
        const target = source.target === "selection" ? context.document.getSelection() : context.document.body;
        const searches = new Map();
        for (const edit of result.edits || []) {
          if (!searches.has(edit.original)) {
            const found = target.search(edit.original.slice(0, 255), { matchCase: true });
            found.load("items");
            searches.set(edit.original, found);
          }
        }
        await context.sync();
        for (const edit of result.edits || []) {
          const occurrence = countBefore(source.text, edit.original, edit.utf16_start);
          const item = searches.get(edit.original).items[occurrence];
          if (item) item.insertText(edit.replacement, "Replace");
        }
        await context.sync();
      });
    },
    async replaceWord(word, replacement) {
      await Word.run(async (context) => {
        const found = context.document.body.search(word, { matchCase: true, matchWholeWord: true });
        found.load("items");
        await context.sync();
        if (!found.items.length) throw new Error(`"${word}" is no longer in the document.`);
        found.items[0].insertText(replacement, "Replace");
        await context.sync();
      });
    },
  };

  let doc = standaloneDocument;

  function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  function countBefore(text, needle, offset) {
    let count = 0;
    let at = text.indexOf(needle);
    while (at !== -1 && at < offset) {
      count += 1;
      at = text.indexOf(needle, at + Math.max(needle.length, 1));
    }
    return count;
  }

  // --- Connection ------------------------------------------------------------------------

  function setConnection(text, stateName) {
    const badge = $("connection");
    badge.textContent = text;
    badge.dataset.state = stateName;
  }

  function send(frame) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function connect() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) return showSignIn();
    clearTimeout(state.reconnectTimer);
    setConnection("connecting", "connecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws/addin/`);
    state.ws = ws;
    ws.addEventListener("open", () => {
      // The token travels in the first frame, never in the URL.
      ws.send(JSON.stringify({ type: "auth", token, client: "mcpsite task pane" }));
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      handleFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (state.ws !== ws) return;
      state.authenticated = false;
      clearInterval(state.pingTimer);
      setConnection("offline", "offline");
      if (event.code === CLOSE_UNAUTHENTICATED) {
        sessionStorage.removeItem(TOKEN_KEY);
        showSignIn("The token was not accepted. Check it and sign in again.");
        return;
      }
      // Reconnect with back-off; running executions are resumed after signing in again.
      state.reconnectTimer = setTimeout(connect, state.retryDelay);
      state.retryDelay = Math.min(state.retryDelay * 2, 10000);
    });
  }

  function handleFrame(frame) {
    switch (frame.type) {
      case "authenticated":
        state.authenticated = true;
        state.retryDelay = 500;
        setConnection("online", "online");
        showWorkspace();
        send({ type: "tools_list", id: "tools" });
        resumeRunning();
        clearInterval(state.pingTimer);
        state.pingTimer = setInterval(() => send({ type: "ping", id: "keepalive" }), 25000);
        break;
      case "tools":
        renderTools(frame.tools);
        break;
      case "tools_changed":
        send({ type: "tools_list", id: "tools" });
        break;
      case "execution_accepted":
        accepted(frame);
        break;
      case "execution_progress":
        progressed(frame);
        break;
      case "execution_result":
        finished(frame);
        break;
      case "error":
        failed(frame);
        break;
      default:
        break; // pong, and frames of newer servers
    }
  }

  // --- Tools ------------------------------------------------------------------------------

  function renderTools(tools) {
    const select = $("tool");
    const previous = select.value;
    state.tools = tools.filter((tool) => tool.available !== false);
    select.replaceChildren(
      ...state.tools.map((tool) => {
        const option = document.createElement("option");
        option.value = tool.name;
        option.textContent = tool.title || tool.name;
        return option;
      }),
    );
    if (state.tools.some((tool) => tool.name === previous)) select.value = previous;
    describeTool();
  }

  function selectedTool() {
    return state.tools.find((tool) => tool.name === $("tool").value);
  }

  function describeTool() {
    const tool = selectedTool();
    $("tool-description").textContent = tool ? tool.description : "";
  }

  // --- Executions ---------------------------------------------------------------------------

  function newRecord(toolName) {
    const element = $("execution-template").content.firstElementChild.cloneNode(true);
    element.querySelector(".execution-tool").textContent = toolName;
    $("executions").prepend(element);
    const record = { tool: toolName, element, executionId: null, source: null };
    element.querySelector(".cancel").addEventListener("click", () => cancel(record));
    setStatus(record, "pending");
    return record;
  }

  function setStatus(record, status) {
    const badge = record.element.querySelector(".execution-status");
    badge.textContent = status;
    badge.dataset.state = status;
    record.element.dataset.status = status;
    record.element.querySelector(".cancel").hidden = FINAL.has(status);
  }

  async function run() {
    const tool = selectedTool();
    hideError("run-error");
    if (!tool) return showError("run-error", "Choose a tool first.");
    let args;
    try {
      args = JSON.parse($("arguments").value.trim() || "{}");
    } catch (error) {
      return showError("run-error", "The arguments are not valid JSON.");
    }
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      return showError("run-error", "The arguments must be a JSON object.");
    }
    const properties = (tool.input_schema && tool.input_schema.properties) || {};
    let source = null;
    if ("text" in properties && args.text === undefined && args.docx_base64 === undefined) {
      source = await doc.read();
      args.text = source.text;
    }
    const record = newRecord(tool.name);
    record.source = source;
    const id = `run-${state.nextId++}`;
    state.requests.set(id, record);
    if (!send({ type: "tool_execute", id, tool: tool.name, arguments: args })) {
      state.requests.delete(id);
      setStatus(record, "error");
      showResult(record, "Not connected; try again in a moment.");
    }
  }

  function accepted(frame) {
    const record = state.requests.get(frame.id);
    if (!record) return;
    state.requests.delete(frame.id);
    record.executionId = frame.execution_id;
    record.element.dataset.executionId = frame.execution_id;
    state.executions.set(frame.execution_id, record);
    setStatus(record, "running");
    remember();
  }

  function recordFor(executionId, toolName) {
    let record = state.executions.get(executionId);
    if (!record) {
      // Resumed after a reload: the page did not start it this time.
      record = newRecord(toolName || "execution");
      record.executionId = executionId;
      record.element.dataset.executionId = executionId;
      state.executions.set(executionId, record);
    }
    return record;
  }

  function progressed(frame) {
    const record = recordFor(frame.execution_id);
    if (FINAL.has(record.element.dataset.status)) return;
    setStatus(record, "running");
    const bar = record.element.querySelector(".execution-progress");
    if (typeof frame.total === "number" && frame.total > 0) {
      bar.max = frame.total;
      bar.value = frame.progress;
    } else {
      bar.removeAttribute("value"); // unknown total: an indeterminate bar
    }
    record.element.querySelector(".execution-message").textContent = frame.message || "";
  }

  async function finished(frame) {
    const record = recordFor(frame.execution_id);
    if (frame.status === "success" && frame.result_url && frame.result === undefined) {
      // Too large for one WebSocket frame: the REST API has it, for the same token.
      try {
        const response = await fetch(frame.result_url, {
          headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}`, Accept: "application/json" },
        });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        frame = { ...frame, result: (await response.json()).result };
      } catch (error) {
        frame = { ...frame, status: "error", error: `The result could not be fetched: ${error.message}` };
      }
    }
    setStatus(record, frame.status);
    const bar = record.element.querySelector(".execution-progress");
    if (frame.status === "success") {
      bar.max = 1;
      bar.value = 1;
      showResult(record, JSON.stringify(frame.result, null, 2));
      offerEdits(record, frame.result);
    } else {
      showResult(record, frame.error || frame.status);
    }
    remember();
  }

  function failed(frame) {
    const record = state.requests.get(frame.id);
    if (record) {
      state.requests.delete(frame.id);
      setStatus(record, "error");
      showResult(record, frame.message);
      return;
    }
    if (frame.id === "resume") return; // a remembered execution that is gone
    showError("run-error", frame.message);
  }

  function showResult(record, text) {
    const pre = record.element.querySelector(".execution-result");
    pre.textContent = text;
    pre.hidden = false;
  }

  function cancel(record) {
    if (!record.executionId) return;
    record.element.querySelector(".cancel").disabled = true;
    send({ type: "execution_cancel", id: `cancel-${state.nextId++}`, execution_id: record.executionId });
  }

  // Edits a result proposes, applied to the document on request.
  function offerEdits(record, result) {
    const actions = record.element.querySelector(".execution-actions");
    actions.replaceChildren();
    if (!result || typeof result !== "object") return;
    if (record.tool === "find_replace" && typeof result.text === "string" && record.source && result.count > 0) {
      actions.append(actionButton(`Apply ${result.count} replacement(s)`, () => doc.applyEdits(record.source, result)));
    }
    for (const value of Object.values(result)) {
      if (!Array.isArray(value)) continue;
      for (const item of value) {
        // Spell-check style results: {word, suggestions: [...]}.
        if (item && typeof item.word === "string" && Array.isArray(item.suggestions) && item.suggestions.length) {
          const suggestion = String(item.suggestions[0]);
          actions.append(actionButton(`${item.word} → ${suggestion}`, () => doc.replaceWord(item.word, suggestion)));
        }
      }
    }
  }

  function actionButton(label, apply) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await apply();
        button.textContent = `${label} ✓`;
      } catch (error) {
        button.disabled = false;
        showError("run-error", error.message);
      }
    });
    return button;
  }

  // Executions still running survive a dropped connection or a reload of the pane.
  function remember() {
    const running = [];
    for (const [executionId, record] of state.executions) {
      if (!FINAL.has(record.element.dataset.status)) running.push({ executionId, tool: record.tool });
    }
    sessionStorage.setItem(RUNNING_KEY, JSON.stringify(running));
  }

  function resumeRunning() {
    let running = [];
    try {
      running = JSON.parse(sessionStorage.getItem(RUNNING_KEY) || "[]");
    } catch (error) {
      running = [];
    }
    for (const { executionId, tool } of running) {
      recordFor(executionId, tool);
      send({ type: "execution_subscribe", id: "resume", execution_id: executionId });
    }
  }

  // --- Sign-in and layout -------------------------------------------------------------------

  function showSignIn(message) {
    $("signin").hidden = false;
    $("workspace").hidden = true;
    if (message) showError("signin-error", message);
  }

  function showWorkspace() {
    $("signin").hidden = true;
    $("workspace").hidden = false;
    hideError("signin-error");
  }

  function showError(id, message) {
    $(id).textContent = message;
    $(id).hidden = false;
  }

  function hideError(id) {
    $(id).hidden = true;
  }

  function start(host) {
    const inWord = host === "word";
    doc = inWord ? wordDocument : standaloneDocument;
    document.body.dataset.mode = inWord ? "word" : "standalone";
    $("standalone").hidden = inWord;
    $("word-mode").hidden = !inWord;
    $("signin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
      $("token").value = "";
      hideError("signin-error");
      connect();
    });
    $("signout").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      const ws = state.ws;
      state.ws = null;
      if (ws) ws.close(1000);
      setConnection("offline", "offline");
      showSignIn();
    });
    $("tool").addEventListener("change", describeTool);
    $("run").addEventListener("click", run);
    connect();
  }

  if (window.Office && typeof Office.onReady === "function") {
    Office.onReady((info) => start(info && info.host === Office.HostType.Word ? "word" : "standalone"));
  } else {
    start("standalone");
  }
})();
