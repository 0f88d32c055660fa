/* <ces-prompt token="..." endpoint="https://gateway.example/">: a user's survey prompts from ces-stream's
   gateway (docs/gateway.md "The <ces-prompt> element"). No dependencies, no build step. */
(() => {
  "use strict";
  if (customElements.get("ces-prompt")) return;
  const SCRIPT = document.currentScript && document.currentScript.src;
  const TEXT = {
    en: { send: "Send", skip: "Skip", close: "Close", thanks: "Thank you for your answer!", retry: "Could not send: please try again.", faces: ["Unhappy", "Neutral", "Happy"] },
    nl: { send: "Versturen", skip: "Overslaan", close: "Sluiten", thanks: "Bedankt voor uw antwoord!", retry: "Versturen lukte niet: probeer het opnieuw.", faces: ["Ontevreden", "Neutraal", "Tevreden"] },
  };
  const FACES = ["\u{1F61E}", "\u{1F610}", "\u{1F60A}"];
  const CSS = `:host{display:block;font:var(--ces-prompt-font,15px/1.4 system-ui,sans-serif);color:var(--ces-prompt-fg,#1d2430);--a:var(--ces-prompt-accent,#2e5aac);--af:var(--ces-prompt-accent-fg,#fff);--b:1px solid var(--ces-prompt-border,#d0d5dd)}
:host([hidden]){display:none}
.card{background:var(--ces-prompt-bg,#fff);border:var(--b);border-radius:var(--ces-prompt-radius,10px);padding:16px;max-width:30em;position:relative;box-shadow:0 4px 16px #0002}
.card:focus{outline:none}
h2{font-size:1em;margin:0 2em 12px 0}
fieldset{border:0;margin:0;padding:0;display:flex;gap:6px;flex-wrap:wrap}
.pt{position:relative}
.pt input{position:absolute;opacity:0;inset:0;margin:0}
.pt span{display:inline-block;min-width:2.2em;padding:6px 4px;text-align:center;border:var(--b);border-radius:6px;cursor:pointer}
.face span{font-size:1.8em}
.pt input:checked+span,button{background:var(--a);color:var(--af);border:1px solid var(--a)}
.pt input:focus-visible+span{outline:2px solid var(--a);outline-offset:2px}
.ends{display:flex;justify-content:space-between;font-size:.85em;opacity:.75;margin-top:4px}
textarea{width:100%;box-sizing:border-box;min-height:4em;font:inherit}
.row{margin-top:12px;display:flex;gap:8px}
button{font:inherit;padding:6px 14px;border-radius:6px;cursor:pointer}
.plain,.x{background:none;color:inherit;border:var(--b)}
button:disabled{opacity:.5}
.x{position:absolute;top:8px;right:8px;border:0;font-size:1.3em;padding:0 6px}
.err{color:var(--ces-prompt-error,#b42318);margin:8px 0 0}`;

  const uuid = () =>
    crypto.randomUUID
      ? crypto.randomUUID()
      : "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
          (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16));
  const el = (tag, props, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== false && v != null) e.setAttribute(k, v === true ? "" : v);
    }
    e.append(...kids.filter(Boolean));
    return e;
  };
  const expired = (p) => Date.parse(p.expires_at) <= Date.now();
  let serial = 0;

  class CesPrompt extends HTMLElement {
    static get observedAttributes() { return ["token", "endpoint"]; }

    constructor() {
      super();
      this.uid = "c" + ++serial;
      this.root = this.attachShadow({ mode: "open" });
      this.root.append(el("style", { text: CSS }));
      this.box = this.root.appendChild(el("div"));
    }

    // Once connected, not per attribute of the upgrade.
    connectedCallback() { this.on = 1; this.start(); }
    disconnectedCallback() { this.on = 0; this.stop(); }
    attributeChangedCallback() { if (this.on) this.start(); }

    get base() { return new URL(this.getAttribute("endpoint") || (SCRIPT ? new URL("..", SCRIPT).href : "/"), location.href); }
    get token() { return this.getAttribute("token") || ""; }
    get prompt() { return this.current || null; }

    // What survives a reload, per gateway and user (sessionStorage): the last event id received, the prompts
    // received and not finished (the first one is on screen), the ones reported shown, the ones finished.
    key() {
      let sub = "";
      try { sub = JSON.parse(atob(this.token.split(".")[0].replace(/-/g, "+").replace(/_/g, "/"))).sub; } catch (e) { /* opaque */ }
      return "ces-prompt:" + this.base.href + ":" + sub;
    }
    load() {
      try { this.s = JSON.parse(sessionStorage.getItem(this.key())) || null; } catch (e) { this.s = null; }
      this.s = Object.assign({ last: null, queue: [], shown: [], done: [], step: null }, this.s);
    }
    save() {
      const s = this.s;
      s.shown = s.shown.slice(-50);
      s.done = s.done.slice(-50);
      try { sessionStorage.setItem(this.key(), JSON.stringify(s)); } catch (e) { /* private mode: memory only */ }
    }

    start() {
      this.stop();
      if (!this.token) return;
      this.load();
      this.render();
      this.open(this.run = {});
    }
    // The URL holds a ticket (a pseudonym), never the token: URLs get logged.
    async open(run) {
      let r, t;
      try { r = await this.post("v1/prompts/ticket"); t = r.ok && (await r.json()).ticket; } catch (e) { /* offline */ }
      if (run !== this.run) return;
      if (r?.status === 401) return this.expired();
      if (!t) return this.retry(run);
      const url = new URL("v1/prompts/stream", this.base);
      url.searchParams.set("ticket", t);
      if (this.s.last) url.searchParams.set("after", this.s.last);
      const source = (this.source = new EventSource(url));
      source.onopen = () => (this.wait = 0);
      source.addEventListener("prompt", (e) => this.received(e.lastEventId, JSON.parse(e.data)));
      source.addEventListener("expired", () => this.expired());
      source.onerror = () => source.readyState === EventSource.CLOSED && this.retry(run);
    }
    // Refused or no ticket: a new one in 2 s, doubling up to a minute.
    retry(run) {
      this.emit("error", { reason: "stream" });
      this.again = setTimeout(() => this.open(run), this.wait = Math.min(2 * this.wait || 2000, 6e4));
    }
    expired() { this.stop(); this.emit("token-expired", {}); }
    stop() {
      if (this.source) this.source.close();
      this.source = this.run = this.wait = null;
      clearTimeout(this.timer), clearTimeout(this.again);
    }

    received(id, prompt) {
      const s = this.s;
      if (id) s.last = id;
      const pid = prompt.prompt_id;
      if (!s.done.includes(pid) && !s.queue.some((q) => q.prompt.prompt_id === pid) && !expired(prompt)) {
        s.queue.push({ id, prompt });
      }
      this.save();
      if (!this.current) this.render();
    }

    emit(name, detail) {
      this.dispatchEvent(new CustomEvent("ces-prompt-" + name, { detail, bubbles: true, composed: true }));
    }

    post(path, body) {
      return fetch(new URL(path, this.base), {
        method: "POST",
        keepalive: true,
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + this.token },
        body: JSON.stringify(body),
      });
    }
    record(p, more) {
      return { prompt_id: p.prompt_id, user_id: p.user_id, goal: p.goal, channel: this.getAttribute("channel") || "web", ...more };
    }
    texts(p) { return TEXT[(p.locale || "").slice(0, 2)] || TEXT.en; }

    // The prompt on screen: the first of the queue that has not expired (an expired one is dropped unseen).
    render() {
      const s = this.s;
      clearTimeout(this.timer);
      while (s.queue.length && expired(s.queue[0].prompt)) this.finish(false);
      const entry = s.queue[0];
      this.current = entry ? entry.prompt : null;
      this.box.replaceChildren();
      this.hidden = !entry;
      if (!entry) return (this.onScreen = null);
      const p = entry.prompt;
      this.timer = setTimeout(() => this.render(), Math.min(Date.parse(p.expires_at) - Date.now() + 50, 2 ** 31 - 1));
      const step = s.step && s.step.pid === p.prompt_id ? s.step : { pid: p.prompt_id, stage: "score" };
      s.step = step;
      this.save();
      const restored = s.shown.includes(p.prompt_id);
      this.back = this.back || (document.activeElement !== document.body && document.activeElement !== this ? document.activeElement : null);
      const card = this.card(p, step);
      this.box.append(card);
      (card.querySelector("input:checked,input,textarea") || card).focus();
      if (!restored) {
        s.shown.push(p.prompt_id);
        this.save();
        this.post("v1/prompt-events", this.record(p, { event_id: uuid(), type: "shown", occurred_at: new Date().toISOString() })).catch(() => {});
      }
      if (this.onScreen !== p.prompt_id) this.emit("shown", { prompt: p, restored });
      this.onScreen = p.prompt_id;
    }

    card(p, step) {
      const t = this.texts(p);
      const h = this.uid + "-q";
      const close = el("button", { class: "x", type: "button", "aria-label": t.close, text: "\u00d7", onclick: () => this.close() });
      const card = el("div", { class: "card", role: "dialog", "aria-labelledby": h, tabindex: "-1", lang: p.locale, part: "card" }, close);
      card.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); this.close(); } });
      if (step.stage === "thanks") {
        card.append(el("h2", { id: h, role: "status", text: t.thanks }));
        this.timer = setTimeout(() => this.finish(true), 4000);
        return card;
      }
      const err = el("p", { class: "err", role: "alert" });
      if (step.stage === "comment") {
        const text = el("textarea", { id: this.uid + "-c", maxlength: "2000" });
        const form = el("form", {
          onsubmit: (e) => { e.preventDefault(); this.comment(p, text.value.trim(), err); },
        },
        el("h2", {}, el("label", { id: h, for: this.uid + "-c", text: step.question })), text, err,
        el("div", { class: "row" }, el("button", { text: t.send }), el("button", { class: "plain", type: "button", text: t.skip, onclick: () => this.thank() })));
        card.append(form);
        return card;
      }
      const sc = p.scale;
      const labels = Object.fromEntries((sc.labels || []).map((l) => [l.value, l.label]));
      const faces = sc.kind === "emoticon" && sc.max_score - sc.min_score === 2;
      const set = el("fieldset", { role: "radiogroup", "aria-labelledby": h });
      for (let v = sc.min_score; v <= sc.max_score; v++) {
        const i = v - sc.min_score;
        const name = faces ? labels[v] || t.faces[i] : labels[v] ? v + " \u2013 " + labels[v] : String(v);
        set.append(el("label", { class: faces ? "pt face" : "pt" },
          el("input", { type: "radio", name: this.uid, value: String(v), "aria-label": name, onchange: () => { send.disabled = false; } }),
          el("span", { "aria-hidden": "true", text: faces ? FACES[i] : String(v) })));
      }
      const lo = labels[sc.min_score], hi = labels[sc.max_score];
      const send = el("button", { disabled: true, text: t.send });
      const form = el("form", {
        onsubmit: (e) => {
          e.preventDefault();
          const got = set.querySelector("input:checked");
          if (got) this.answer(p, Number(got.value), err, send);
        },
      }, el("h2", { id: h, text: p.question }), set,
      !faces && (lo || hi) ? el("div", { class: "ends", "aria-hidden": "true" }, el("span", { text: lo || "" }), el("span", { text: hi || "" })) : null,
      err, el("div", { class: "row" }, send));
      card.append(form);
      return card;
    }

    async answer(p, score, err, send) {
      send.disabled = true;
      let status = 0;
      try {
        status = (await this.post("v1/answers", this.record(p, { schema_version: 2, answer_id: uuid(), score, answered_at: new Date().toISOString(), survey: p.survey || "ces" }))).status;
      } catch (e) { /* network: try again */ }
      if (status === 0 || status >= 500) { err.textContent = this.texts(p).retry; send.disabled = false; return; }
      this.emit("answered", { prompt: p, score, accepted: status < 300, status });
      if (status >= 300) return this.finish(true);
      const bands = p.follow_ups || [];
      const band = bands.find((b) => b.scores.includes(score));
      const question = bands.length ? band && band.question : p.follow_up_question;
      this.s.step = question ? { pid: p.prompt_id, stage: "comment", score, question } : { pid: p.prompt_id, stage: "thanks" };
      this.save();
      this.render();
    }

    // The comment after the score: a second record for the prompt, without a score (SurveyAnswer version 2).
    async comment(p, text, err) {
      if (!text) return this.thank();
      let status = 0;
      try {
        status = (await this.post("v1/answers", this.record(p, { schema_version: 2, answer_id: uuid(), comment: text, answered_at: new Date().toISOString(), survey: p.survey || "ces" }))).status;
      } catch (e) { /* network */ }
      if (status === 0 || status >= 500) { err.textContent = this.texts(p).retry; return; }
      this.emit("commented", { prompt: p, comment: text, status });
      this.thank();
    }
    thank() {
      this.s.step = { pid: this.current.prompt_id, stage: "thanks" };
      this.save();
      this.render();
    }

    // Escape or the close button: before the score the prompt is dismissed (reported); after it, just closed.
    close() {
      const p = this.current;
      if (!p) return;
      const answered = this.s.step && this.s.step.stage !== "score";
      if (!answered) {
        this.post("v1/prompt-events", this.record(p, { event_id: uuid(), type: "dismissed", occurred_at: new Date().toISOString() })).catch(() => {});
        this.emit("dismissed", { prompt: p });
      }
      this.finish(true);
    }

    finish(render) {
      const s = this.s;
      const entry = s.queue.shift();
      if (entry) s.done.push(entry.prompt.prompt_id);
      s.step = null;
      this.save();
      if (!render) return;
      const back = this.back, inside = !!this.root.activeElement;
      this.back = null;
      this.render();
      if (!this.current && inside && back && back.isConnected) back.focus();
    }
  }
  customElements.define("ces-prompt", CesPrompt);
})();
