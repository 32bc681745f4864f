// The mcpsite task pane: signs in with a token, lists the hub's tools and runs them on the
// document over the /ws/addin/ WebSocket (protocol in docs/ARCHITECTURE.md). Inside Word it reads and
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
    questions: new Map(), // question id -> its form, while open
    answers: new Map(), // request id of an elicitation_answer -> its form, until closed or refused
  };

  // --- The document: Word, or the standalone text area ----------------------------------
  //
  // A change the pane proposes ("proposal") names the text it replaces, where it was
  // (UTF-16 offset into the text the tool saw) and a little of the text around it. When it
  // is applied, the text is searched for again: the user may have typed since the tool ran,
  // so offsets are only a tie-breaker. An edit whose text is gone is skipped with a note.

  const CONTEXT = 24;

  function wordBoundaryAt(text, at, length) {
    const letter = /[\p{L}\p{N}]/u;
    return !(at > 0 && letter.test(text[at - 1])) && !(at + length < text.length && letter.test(text[at + length]));
  }

  function sharedSuffix(a, b) {
    let n = 0;
    while (n < a.length && n < b.length && a[a.length - 1 - n] === b[b.length - 1 - n]) n += 1;
    return n;
  }

  function sharedPrefix(a, b) {
    let n = 0;
    while (n < a.length && n < b.length && a[n] === b[n]) n += 1;
    return n;
  }

  // Where `proposal.original` is in `text` now: the occurrence whose surroundings match the
  // ones the tool saw best, then the one nearest its old place (`hint`); -1 when it is gone.
  function locate(text, proposal, hint) {
    const { original } = proposal;
    let best = -1;
    let bestScore = -1;
    let bestDistance = Infinity;
    for (let at = text.indexOf(original); at !== -1; at = text.indexOf(original, at + 1)) {
      if (proposal.wholeWord && !wordBoundaryAt(text, at, original.length)) continue;
      const score = sharedSuffix(text.slice(Math.max(0, at - CONTEXT), at), proposal.before) +
        sharedPrefix(text.slice(at + original.length, at + original.length + CONTEXT), proposal.after);
      const distance = Math.abs(at - (hint === undefined ? proposal.start : hint));
      if (score > bestScore || (score === bestScore && distance < bestDistance)) {
        best = at;
        bestScore = score;
        bestDistance = distance;
      }
    }
    return best;
  }

  function goneNote(proposal) {
    return `"${proposal.original}" is no longer in the text; skipped.`;
  }

  const standaloneDocument = {
    inWord: false,
    async read() {
      const area = $("document");
      const start = area.selectionStart;
      const end = area.selectionEnd;
      if (end > start) return { text: area.value.slice(start, end), offset: start };
      return { text: area.value, offset: 0 };
    },
    // Applies each proposal in turn, each found again in the text as it is by then.
    async apply(source, proposals) {
      const area = $("document");
      const outcomes = [];
      for (const proposal of proposals) {
        const at = locate(area.value, proposal, proposal.start + (source.offset || 0));
        if (at === -1) {
          outcomes.push({ applied: false, note: goneNote(proposal) });
          continue;
        }
        area.value = area.value.slice(0, at) + proposal.chosen + area.value.slice(at + proposal.original.length);
        outcomes.push({ applied: true });
      }
      area.dispatchEvent(new Event("input"));
      return outcomes;
    },
    async comment(source, proposals) {
      return proposals.map(() => ({ applied: false, note: "Comments are Word's; nothing was changed." }));
    },
    async show(source, proposal) {
      const area = $("document");
      const at = locate(area.value, proposal, proposal.start + (source.offset || 0));
      if (at === -1) return false;
      area.focus();
      area.setSelectionRange(at, at + proposal.original.length);
      return true;
    },
  };

  function wordApi(version) {
    return Boolean(window.Office && Office.context && Office.context.requirements &&
      Office.context.requirements.isSetSupported("WordApi", version));
  }

  // The Word range of a proposal, searched for in the document body as it is now.
  async function findInWord(context, source, proposal) {
    const found = context.document.body.search(proposal.original.slice(0, 255), {
      matchCase: true,
      matchWholeWord: Boolean(proposal.wholeWord),
    });
    found.load("items/text");
    await context.sync();
    if (!found.items.length) return null;
    if (found.items.length === 1) return found.items[0];
    const paragraphs = found.items.map((item) => {
      const paragraph = item.paragraphs.getFirst();
      paragraph.load("text");
      return paragraph;
    });
    await context.sync();
    // Score each hit by the text around it in its paragraph, as `locate` does.
    const seen = new Map();
    let best = null;
    let bestScore = -1;
    let bestDistance = Infinity;
    const expected = countBefore(source.text, proposal.original, proposal.start);
    found.items.forEach((item, index) => {
      const text = paragraphs[index].text;
      const nth = seen.get(text) || 0;
      seen.set(text, nth + 1);
      let at = -1;
      for (let k = 0; k <= nth; k += 1) at = text.indexOf(proposal.original, at + 1);
      const score = at === -1 ? 0 : sharedSuffix(text.slice(Math.max(0, at - CONTEXT), at), proposal.before) +
        sharedPrefix(text.slice(at + proposal.original.length, at + proposal.original.length + CONTEXT), proposal.after);
      const distance = Math.abs(index - expected);
      if (score > bestScore || (score === bestScore && distance < bestDistance)) {
        best = item;
        bestScore = score;
        bestDistance = distance;
      }
    });
    return best;
  }

  const wordDocument = {
    inWord: true,
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
    // Edits go in as tracked changes when asked (tracking is turned on for the edits and
    // the user's own mode restored after), each with a comment giving its reason if asked.
    async apply(source, proposals, options) {
      return Word.run(async (context) => {
        const document = context.document;
        const canTrack = wordApi("1.4");
        let previousMode = null;
        if (options.track && canTrack) {
          document.load("changeTrackingMode");
          await context.sync();
          previousMode = document.changeTrackingMode;
          document.changeTrackingMode = Word.ChangeTrackingMode.trackAll;
          await context.sync();
        }
        const outcomes = [];
        try {
          for (const proposal of proposals) {
            const range = await findInWord(context, source, proposal);
            if (!range) {
              outcomes.push({ applied: false, note: goneNote(proposal) });
              continue;
            }
            const inserted = range.insertText(proposal.chosen, "Replace");
            if (options.comment && wordApi("1.4")) inserted.insertComment(proposal.reason);
            await context.sync();
            outcomes.push({ applied: true });
          }
        } finally {
          if (previousMode !== null) {
            document.changeTrackingMode = previousMode;
            await context.sync();
          }
        }
        return outcomes;
      });
    },
    // Spelling issues as comments on the words, the text left as it is.
    async comment(source, proposals) {
      if (!wordApi("1.4")) {
        return proposals.map(() => ({ applied: false, note: "This Word does not support comments from add-ins." }));
      }
      return Word.run(async (context) => {
        const outcomes = [];
        for (const proposal of proposals) {
          const range = await findInWord(context, source, proposal);
          if (!range) {
            outcomes.push({ applied: false, note: goneNote(proposal) });
            continue;
          }
          range.insertComment(proposal.reason);
          await context.sync();
          outcomes.push({ applied: true });
        }
        return outcomes;
      });
    },
    async show(source, proposal) {
      return Word.run(async (context) => {
        const range = await findInWord(context, source, proposal);
        if (!range) return false;
        range.select();
        await context.sync();
        return true;
      });
    },
  };

  let doc = standaloneDocument;

  function countBefore(text, needle, offset) {
    let count = 0;
    let at = text.indexOf(needle);
    while (at !== -1 && at < offset) {
      count += 1;
      at = text.indexOf(needle, at + Math.max(needle.length, 1));
    }
    return count;
  }

  // Python counts code points, JavaScript UTF-16 units: astral characters take two.
  function utf16Offset(text, codePoints) {
    let units = 0;
    let seen = 0;
    for (const char of text) {
      if (seen >= codePoints) break;
      units += char.length;
      seen += 1;
    }
    return units;
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
      // The hub answered the open questions "cancel" when the socket closed.
      for (const questionId of [...state.questions.keys()]) closeQuestion(questionId);
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
      case "elicitation":
        askPerson(frame);
        break;
      case "elicitation_closed":
        closeQuestion(frame.question_id);
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
    record.arguments = args;
    const id = `run-${state.nextId++}`;
    state.requests.set(id, record);
    if (!send({ type: "tool_execute", id, tool: tool.name, arguments: args })) {
      state.requests.delete(id);
      setStatus(record, "error");
      showFailure(record, "Not connected; try again in a moment.");
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
    for (const form of record.element.querySelectorAll("form.question")) closeQuestion(form.dataset.questionId);
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
      showRaw(record, frame.result);
      renderResult(record, frame.result);
    } else {
      showFailure(record, frame.error || frame.status);
    }
    remember();
  }

  function failed(frame) {
    const form = state.answers.get(frame.id);
    if (form) {
      // The answer was refused (it does not fit the question): the form stays open.
      state.answers.delete(frame.id);
      form.querySelector(".question-error").textContent = frame.message;
      form.querySelector(".question-error").hidden = false;
      for (const button of form.querySelectorAll("button")) button.disabled = false;
      return;
    }
    const record = state.requests.get(frame.id);
    if (record) {
      state.requests.delete(frame.id);
      setStatus(record, "error");
      showFailure(record, frame.message);
      return;
    }
    if (frame.id === "resume") return; // a remembered execution that is gone
    showError("run-error", frame.message);
  }

  function showFailure(record, text) {
    const p = record.element.querySelector(".execution-error");
    p.textContent = text;
    p.hidden = false;
  }

  function showRaw(record, result) {
    record.element.querySelector(".execution-result").textContent = JSON.stringify(result, null, 2);
    record.element.querySelector(".execution-raw").hidden = false;
  }

  function cancel(record) {
    if (!record.executionId) return;
    record.element.querySelector(".cancel").disabled = true;
    send({ type: "execution_cancel", id: `cancel-${state.nextId++}`, execution_id: record.executionId });
  }

  // --- Questions from a running tool (form elicitation) -----------------------------------------
  //
  // A tool (or the remote server behind it) asks the person: a message and a flat form of
  // string, number, integer and boolean fields. The answer goes back as the schema's types.

  function fieldOptions(field) {
    if (Array.isArray(field.oneOf) && field.oneOf.every((option) => option && "const" in option)) {
      return field.oneOf.map((option) => ({ value: String(option.const), label: option.title || String(option.const) }));
    }
    if (Array.isArray(field.enum)) {
      const names = Array.isArray(field.enumNames) ? field.enumNames : [];
      return field.enum.map((value, index) => ({ value: String(value), label: names[index] || String(value) }));
    }
    return null;
  }

  function questionField(questionId, index, name, field, required) {
    const id = `q-${questionId}-${index}`;
    const title = field.title || name;
    const mark = required ? el("span", { class: "required", title: "required", text: " *" }) : null;
    const hint = field.description ? el("span", { class: "hint field-description", text: field.description }) : null;
    const options = fieldOptions(field);
    let input;
    if (field.type === "boolean") {
      input = el("input", { type: "checkbox", id, name });
      input.checked = field.default === true;
      return { input, node: el("div", { class: "question-field", "data-field": name },
        el("label", { class: "check", for: id }, input, ` ${title}`, mark), hint) };
    }
    if (options) {
      input = el("select", { id, name },
        required ? null : el("option", { value: "", text: "—" }),
        ...options.map((option) => el("option", { value: option.value, text: option.label })));
      if (field.default !== undefined) input.value = String(field.default);
    } else if (field.type === "number" || field.type === "integer") {
      input = el("input", { type: "number", id, name, step: field.type === "integer" ? "1" : "any" });
      if (typeof field.minimum === "number") input.min = String(field.minimum);
      if (typeof field.maximum === "number") input.max = String(field.maximum);
      if (typeof field.default === "number") input.value = String(field.default);
    } else {
      // Any string, email and uri formats too: the hub checks the answer against the schema.
      input = el("input", { type: "text", id, name });
      if (typeof field.minLength === "number") input.minLength = field.minLength;
      if (typeof field.maxLength === "number") input.maxLength = field.maxLength;
      if (typeof field.default === "string") input.value = field.default;
    }
    input.required = required;
    return { input, node: el("div", { class: "question-field", "data-field": name },
      el("label", { for: id }, title, mark), hint, input) };
  }

  function askPerson(frame) {
    const record = recordFor(frame.execution_id);
    const schema = frame.requested_schema || {};
    const properties = schema.properties || {};
    const required = new Set(Array.isArray(schema.required) ? schema.required : []);
    const fields = Object.entries(properties).map(([name, field], index) =>
      ({ name, field, ...questionField(frame.question_id, index, name, field, required.has(name)) }));
    const button = (action, text, title, type = "button") => el("button", { type, class: `answer-${action}`, text, title });
    const form = el("form", { class: "question", "data-question-id": frame.question_id, "aria-label": "Question from the tool" },
      el("p", { class: "question-message", text: frame.message || "" }),
      ...fields.map((field) => field.node),
      el("p", { class: "question-error error", role: "alert", hidden: "" }),
      el("div", { class: "question-actions" },
        button("accept", "Accept", "Send these values", "submit"),
        button("decline", "Decline", "Say no to the question"),
        button("cancel", "Cancel", "Close the question without answering (the run goes on)")));

    const answer = (action) => {
      const reply = { type: "elicitation_answer", id: `answer-${state.nextId++}`, question_id: frame.question_id, action };
      if (action === "accept") {
        const content = {};
        for (const { name, field, input } of fields) {
          if (field.type === "boolean") content[name] = input.checked;
          else if (input.value === "") continue; // left empty: not given
          else if (field.type === "number" || field.type === "integer") content[name] = Number(input.value);
          else content[name] = input.value;
        }
        reply.content = content;
      }
      form.querySelector(".question-error").hidden = true;
      if (!send(reply)) {
        form.querySelector(".question-error").textContent = "Not connected; the question is gone with the connection.";
        form.querySelector(".question-error").hidden = false;
        return;
      }
      state.answers.set(reply.id, form);
      for (const control of form.querySelectorAll("button")) control.disabled = true;
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      answer("accept");
    });
    form.querySelector(".answer-decline").addEventListener("click", () => answer("decline"));
    form.querySelector(".answer-cancel").addEventListener("click", () => answer("cancel"));
    state.questions.set(frame.question_id, form);
    record.element.querySelector(".execution-message").after(form);
  }

  function closeQuestion(questionId) {
    const form = state.questions.get(questionId);
    if (!form) return;
    state.questions.delete(questionId);
    for (const [id, waiting] of state.answers) if (waiting === form) state.answers.delete(id);
    form.remove();
  }

  // --- Results, per tool ----------------------------------------------------------------------

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value);
    }
    node.append(...children.filter((child) => child !== null && child !== undefined));
    return node;
  }

  function formatNumber(value) {
    return typeof value === "number" && !Number.isInteger(value) ? value.toFixed(2) : String(value);
  }

  function humanize(key) {
    return key.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
  }

  function statisticsTable(values) {
    const rows = Object.entries(values).filter(([, value]) => typeof value === "number");
    return el("table", { class: "stats" },
      el("tbody", null, ...rows.map(([key, value]) =>
        el("tr", null, el("th", { scope: "row", text: humanize(key) }), el("td", { text: formatNumber(value) })))));
  }

  function renderResult(record, result) {
    const view = record.element.querySelector(".execution-view");
    view.replaceChildren();
    if (!result || typeof result !== "object") {
      view.append(el("p", { text: String(result) }));
      return;
    }
    const tool = record.tool.split("__").pop();
    if (Array.isArray(result.issues) && result.issues.every((issue) => typeof issue.word === "string")) {
      return renderProposals(record, view, spellingProposals(record, result), {
        empty: `No misspellings in ${result.words_checked ?? "the"} words checked.`,
        spelling: true,
      });
    }
    if (Array.isArray(result.edits) && typeof result.count === "number") {
      return renderProposals(record, view, replaceProposals(record, result), { empty: "Nothing matched." });
    }
    if (tool === "summarize" && typeof result.summary === "string") {
      view.append(el("p", { class: "readable", text: result.summary }),
        el("p", { class: "hint", text: `${(result.sentences || []).length} of ${result.total_sentences} sentences` }));
      return;
    }
    if (Array.isArray(result.keywords)) {
      view.append(el("ul", { class: "keywords" }, ...result.keywords.map((keyword) =>
        el("li", null, el("span", { text: keyword.keyword }),
          el("meter", { min: "0", max: "1", value: String(keyword.relevance ?? 0), title: `relevance ${formatNumber(keyword.relevance ?? 0)}` })))));
      return;
    }
    if (typeof result.code === "string" && typeof result.confidence === "number" && "candidates" in result) {
      view.append(el("p", { class: "readable", text: result.code === "unknown"
        ? `Language unknown. ${result.reason || ""}`
        : `${result.name} (${result.code}), confidence ${Math.round(result.confidence * 100)}%` }));
      return;
    }
    if (Array.isArray(result.sections) && result.summary && typeof result.summary === "object") {
      const summary = result.summary;
      const figures = { sections: summary.sections, words: summary.words, sentences: summary.sentences,
        misspellings: summary.misspellings, reading_time_seconds: summary.reading_time_seconds,
        ...(summary.readability || {}) };
      view.append(statisticsTable(Object.fromEntries(Object.entries(figures).filter(([, v]) => v !== null && v !== undefined))));
      if (Array.isArray(summary.languages) && summary.languages.length) {
        view.append(el("p", { text: `Languages: ${summary.languages.map((l) => `${l.language} (${l.sections} sections)`).join(", ")}` }));
      }
      if (Array.isArray(summary.top_keywords) && summary.top_keywords.length) {
        view.append(el("p", { text: `Keywords: ${summary.top_keywords.slice(0, 8).map((k) => k.keyword).join(", ")}` }));
      }
      view.append(el("ol", { class: "sections" }, ...result.sections.map((section) => el("li", { text: section.title }))));
      return;
    }
    const numbers = Object.values(result).filter((value) => typeof value === "number").length;
    if (numbers >= 3) {
      view.append(statisticsTable(result));
      return;
    }
    if (typeof result.text === "string") {
      view.append(el("p", { class: "readable", text: result.text.slice(0, 2000) }));
      return;
    }
    // Anything else: the raw JSON, opened.
    record.element.querySelector(".execution-raw").open = true;
  }

  function contextOf(text, start, end) {
    return { before: text.slice(Math.max(0, start - CONTEXT), start), after: text.slice(end, end + CONTEXT) };
  }

  function spellingProposals(record, result) {
    const text = record.source ? record.source.text : "";
    return result.issues.map((issue, index) => {
      const start = utf16Offset(text, issue.start);
      const end = utf16Offset(text, issue.end);
      const suggestions = (issue.suggestions || []).map(String);
      return {
        id: index, original: issue.word, start, end, wholeWord: true, choices: suggestions,
        chosen: suggestions[0] ?? null, ...contextOf(text, start, end),
        reason: suggestions.length
          ? `Possible misspelling: "${issue.word}". Suggestions: ${suggestions.join(", ")}.`
          : `Possible misspelling: "${issue.word}".`,
      };
    });
  }

  function replaceProposals(record, result) {
    const text = record.source ? record.source.text : "";
    const args = record.arguments || {};
    return result.edits.map((edit, index) => ({
      id: index, original: edit.original, start: edit.utf16_start, end: edit.utf16_end, wholeWord: false,
      choices: [edit.replacement], chosen: edit.replacement, ...contextOf(text, edit.utf16_start, edit.utf16_end),
      reason: `Find and replace: "${args.find ?? edit.original}" → "${edit.replacement}".`,
    }));
  }

  function options() {
    return {
      track: $("opt-track").checked,
      comment: $("opt-comment").checked,
      spellingComments: $("opt-spelling-comments").checked,
    };
  }

  // Proposed changes: each with a preview, a choice of suggestion, Apply and Ignore; and
  // Apply all for the ones still open.
  function renderProposals(record, view, proposals, { empty, spelling }) {
    if (!proposals.length) {
      view.append(el("p", { class: "readable", text: empty }));
      return;
    }
    if (!record.source) {
      view.append(el("p", { class: "hint", text: "These came for a text sent as an argument: nothing to apply them to." }));
    }
    const notes = record.element.querySelector(".execution-notes");
    const list = el("ul", { class: "proposals" });
    const items = new Map();

    const applicable = (proposal) => proposal.state === "open" && proposal.chosen !== null && Boolean(record.source);
    const refreshApplyAll = () => {
      const open = proposals.filter(applicable).length;
      applyAll.disabled = open === 0;
      applyAll.textContent = `Apply all (${open})`;
    };
    const setState = (proposal, stateName, note) => {
      proposal.state = stateName;
      const item = items.get(proposal.id);
      item.dataset.state = stateName;
      for (const control of item.querySelectorAll("select, button.ignore")) control.disabled = stateName !== "open";
      item.querySelector("button.apply").disabled = !applicable(proposal);
      if (note) item.querySelector(".proposal-note").textContent = note;
      refreshApplyAll();
    };

    const act = async (chosen) => {
      const opts = options();
      const asComments = spelling && opts.spellingComments;
      let outcomes;
      try {
        outcomes = asComments
          ? await doc.comment(record.source, chosen, opts)
          : await doc.apply(record.source, chosen, opts);
      } catch (error) {
        // Word refused (a protected document, an older Word): say so, change nothing here.
        notes.textContent = `The document could not be changed: ${error.message}`;
        return;
      }
      const skipped = [];
      chosen.forEach((proposal, index) => {
        const outcome = outcomes[index];
        if (outcome.applied) setState(proposal, asComments ? "commented" : "applied", asComments ? "comment added" : "applied");
        else {
          setState(proposal, "skipped", outcome.note);
          skipped.push(outcome.note);
        }
      });
      notes.textContent = skipped.join(" ");
    };

    for (const proposal of proposals) {
      proposal.state = "open";
      const preview = el("span", { class: "preview" });
      const updatePreview = () => {
        preview.replaceChildren(
          el("span", { class: "context", text: `…${proposal.before.slice(-12)}` }),
          el("del", { text: proposal.original }),
          proposal.chosen !== null ? el("ins", { text: proposal.chosen }) : null,
          el("span", { class: "context", text: `${proposal.after.slice(0, 12)}…` }),
        );
      };
      updatePreview();
      let picker = null;
      if (proposal.choices.length > 1) {
        picker = el("select", { class: "choice", "aria-label": `Suggestion for ${proposal.original}` },
          ...proposal.choices.map((choice) => el("option", { value: choice, text: choice })));
        picker.addEventListener("change", () => {
          proposal.chosen = picker.value;
          updatePreview();
        });
      } else if (proposal.choices.length === 0) {
        preview.append(el("span", { class: "hint", text: " (no suggestion)" }));
      }
      const word = el("button", { type: "button", class: "link word", text: proposal.original, title: "Show it in the text" });
      word.addEventListener("click", async () => {
        if (record.source && !(await doc.show(record.source, proposal))) notes.textContent = goneNote(proposal);
      });
      const apply = el("button", { type: "button", class: "apply", text: "Apply" });
      apply.addEventListener("click", () => act([proposal]));
      apply.disabled = !applicable(proposal);
      const ignore = el("button", { type: "button", class: "ignore", text: "Ignore" });
      ignore.addEventListener("click", () => setState(proposal, "ignored", "ignored"));
      const item = el("li", { class: "proposal", "data-state": "open", "data-word": proposal.original },
        el("div", { class: "proposal-head" }, word, picker),
        preview,
        el("div", { class: "proposal-actions" }, apply, ignore),
        el("span", { class: "proposal-note hint" }));
      items.set(proposal.id, item);
      list.append(item);
    }
    const applyAll = el("button", { type: "button", class: "apply-all" });
    applyAll.addEventListener("click", () => act(proposals.filter(applicable)));
    view.append(el("div", { class: "proposals-head" }, applyAll), list);
    refreshApplyAll();
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
    $("options-note").hidden = inWord;
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
