// A stand-in for Office.js inside Word, for the task pane's browser test: Word itself
// cannot run here. It keeps the document as one string (paragraphs split at "\n") and
// follows Word's rules the pane depends on: loaded properties are readable only after
// context.sync(), search honours matchCase/matchWholeWord, insertText(..., "Replace")
// replaces the range, and edits made while changeTrackingMode is not "Off" are tracked.
(function () {
  const doc = { text: "", changeTrackingMode: "Off", changes: [], comments: [], selected: null };
  window.fakeWord = doc;

  function isLetter(ch) {
    return ch !== undefined && /[\p{L}\p{N}]/u.test(ch);
  }

  class Range {
    constructor(start, end) {
      this.start = start;
      this.end = end;
    }
    get text() {
      return doc.text.slice(this.start, this.end);
    }
    get paragraphs() {
      const range = this;
      return {
        getFirst() {
          const from = doc.text.lastIndexOf("\n", range.start - 1) + 1;
          let to = doc.text.indexOf("\n", range.start);
          if (to === -1) to = doc.text.length;
          const paragraph = new Range(from, to);
          return { load() {}, get text() { return paragraph.text; } };
        },
      };
    }
    load() {}
    insertText(text, location) {
      if (location !== "Replace") throw new Error(`fake Word supports only Replace, not ${location}`);
      const original = this.text;
      doc.text = doc.text.slice(0, this.start) + text + doc.text.slice(this.end);
      if (doc.changeTrackingMode !== "Off") doc.changes.push({ original, text, mode: doc.changeTrackingMode });
      return new Range(this.start, this.start + text.length);
    }
    insertComment(text) {
      doc.comments.push({ on: this.text, text });
      return {};
    }
    select() {
      doc.selected = this.text;
    }
    search(needle, options) {
      const pending = { loaded: false, found: [] };
      const opts = options || {};
      const hay = opts.matchCase ? doc.text : doc.text.toLowerCase();
      const what = opts.matchCase ? needle : needle.toLowerCase();
      for (let at = hay.indexOf(what); at !== -1; at = hay.indexOf(what, at + 1)) {
        if (opts.matchWholeWord && (isLetter(doc.text[at - 1]) || isLetter(doc.text[at + needle.length]))) continue;
        pending.found.push(new Range(at, at + needle.length));
      }
      queue.push(pending);
      return {
        load() {},
        get items() {
          if (!pending.loaded) throw new Error("PropertyNotLoaded: call context.sync() first");
          return pending.found;
        },
      };
    }
  }

  let queue = [];
  const context = {
    document: {
      get body() {
        const body = new Range(0, doc.text.length);
        return body;
      },
      getSelection() {
        return { load() {}, text: "" };
      },
      load() {},
      get changeTrackingMode() {
        return doc.changeTrackingMode;
      },
      set changeTrackingMode(mode) {
        doc.changeTrackingMode = mode;
      },
    },
    async sync() {
      for (const pending of queue) pending.loaded = true;
      queue = [];
    },
  };

  window.Word = {
    ChangeTrackingMode: { off: "Off", trackAll: "TrackAll", trackMineOnly: "TrackMineOnly" },
    run: async (batch) => batch(context),
  };
  window.Office = {
    HostType: { Word: "Word" },
    context: { requirements: { isSetSupported: (name, version) => name === "WordApi" && Number(version) <= 1.4 } },
    onReady(callback) {
      callback({ host: "Word" });
    },
  };
})();
