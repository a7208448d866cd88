package widget

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests run api.js in node against a small fake DOM, a fake fetch and a fake clock,
// so the widget's state machine (timers, pending promises, in-flight requests) is checked
// without a browser. Layout, focus rendering and CSP stay with the chromium suite in
// cmd/crowdgate/e2e.

// fakeDOM is the harness: just enough of window/document for api.js, with helpers the
// scenarios use (h.*). A scenario is the body of an async function that returns a JSON
// value.
const fakeDOM = `
'use strict';
const vm = require('vm');
const fs = require('fs');

let doc;
class El {
  constructor(tag, kind) {
    this.tagName = String(tag).toUpperCase();
    this.nodeType = kind || 1;
    this.childNodes = [];
    this.parentNode = null;
    this.attrs = {};
    this.listeners = {};
    this.style = {};
    this.text = '';
    this.className = '';
    this.id = '';
    this.hidden = false;
    this.disabled = false;
    this.value = '';
    this.tabIndex = (this.tagName === 'BUTTON' || this.tagName === 'INPUT' || this.tagName === 'A' || this.tagName === 'TEXTAREA') ? 0 : -1;
    const self = this;
    this.classList = {
      toggle(c, on) { const s = new Set(self.className.split(' ').filter(Boolean)); if (on) s.add(c); else s.delete(c); self.className = Array.from(s).join(' '); },
      contains(c) { return self.className.split(' ').indexOf(c) >= 0; },
    };
  }
  get children() { return this.childNodes; }
  appendChild(c) { if (c.parentNode) c.remove(); c.parentNode = this; this.childNodes.push(c); return c; }
  append(...cs) { cs.forEach((c) => this.appendChild(c)); }
  remove() {
    const p = this.parentNode;
    if (!p) return;
    p.childNodes.splice(p.childNodes.indexOf(this), 1);
    this.parentNode = null;
    if (doc.focused && (doc.focused === this || contains(this, doc.focused))) doc.focused = null;
  }
  insertAdjacentElement(where, el) {
    if (where !== 'afterend') throw new Error('fake DOM: ' + where);
    const p = this.parentNode;
    if (el.parentNode) el.remove();
    el.parentNode = p;
    p.childNodes.splice(p.childNodes.indexOf(this) + 1, 0, el);
    return el;
  }
  set textContent(v) { this.childNodes.forEach((c) => { c.parentNode = null; }); this.childNodes = []; this.text = v == null ? '' : String(v); }
  get textContent() { return this.text + this.childNodes.map((c) => c.textContent).join(''); }
  setAttribute(k, v) { this.attrs[k] = String(v); if (k === 'id') this.id = String(v); }
  getAttribute(k) { if (k === 'id') return this.id || null; if (k === 'class') return this.className || null; if (k === 'name' && this.name) return this.name; return Object.prototype.hasOwnProperty.call(this.attrs, k) ? this.attrs[k] : null; }
  hasAttribute(k) { return this.getAttribute(k) !== null; }
  removeAttribute(k) { delete this.attrs[k]; }
  addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }
  removeEventListener(type, fn) { const l = this.listeners[type] || []; const i = l.indexOf(fn); if (i >= 0) l.splice(i, 1); }
  attachShadow() { const r = new El('#shadow-root', 11); r.host = this; this.shadowRoot = r; return r; }
  get isConnected() { let n = this; while (n) { if (n === doc) return true; n = n.parentNode || n.host; } return false; }
  getClientRects() { let n = this; while (n && n.nodeType === 1) { if (n.hidden) return []; n = n.parentNode; } return this.isConnected ? [1] : []; }
  get activeElement() {
    // a shadow root's focused element, as the browser retargets it
    let f = doc.focused;
    while (f) { const r = rootOf(f); if (r === this) return f; f = r.host; }
    return null;
  }
  focus() {
    if (!this.isConnected || this.hidden) return;
    doc.focused = this;
    dispatch(this, 'focusin', {});
  }
  click() { dispatch(this, 'click', { detail: 1 }); }
  querySelectorAll(sel) { const out = []; walk(this, (n) => { if (matches(n, sel)) out.push(n); }); return out; }
  querySelector(sel) { return this.querySelectorAll(sel)[0] || null; }
  getElementById(id) { return this.querySelector('#' + id); }
  getElementsByTagName(t) { return this.querySelectorAll(t); }
}
function walk(root, fn) { root.childNodes.forEach((c) => { fn(c); walk(c, fn); }); }
function contains(a, b) { for (let n = b; n; n = n.parentNode || n.host) if (n === a) return true; return false; }
function rootOf(n) { while (n.parentNode) n = n.parentNode; return n; }
function matches(n, sel) {
  return sel.split(',').some((s) => {
    const m = s.trim().match(/^([a-z]*)((?:[#.][\w-]+)*)((?:\[[\w-]+(?:=[^\]]+)?\])*)$/i);
    if (!m) throw new Error('fake DOM: selector ' + s);
    if (m[1] && n.tagName !== m[1].toUpperCase()) return false;
    for (const p of (m[2].match(/[#.][\w-]+/g) || [])) {
      if (p[0] === '#' && n.id !== p.slice(1)) return false;
      if (p[0] === '.' && n.className.split(' ').indexOf(p.slice(1)) < 0) return false;
    }
    for (const a of (m[3].match(/\[[^\]]+\]/g) || [])) {
      const [k, v] = a.slice(1, -1).split('=');
      if (k === 'href' && n.tagName === 'A') { if (!n.href) return false; continue; }
      if (k === 'tabindex') { if (n.getAttribute('tabindex') === null && !(n.tabIndex >= 0 && n.tagName !== 'BUTTON' && n.tagName !== 'INPUT')) return false; continue; }
      const got = n.getAttribute(k);
      if (got === null || (v !== undefined && got !== v.replace(/^["']|["']$/g, ''))) return false;
    }
    return true;
  });
}
// dispatch runs listeners along the composed path (target first, then ancestors through
// shadow hosts up to document and window); listeners outside a shadow tree see its host
// as the target, as in a browser.
function dispatch(el, type, init) {
  const path = [];
  for (let n = el; n; n = n.parentNode || n.host) path.push(n);
  if (path[path.length - 1] === doc) path.push(win);
  let stopped = false;
  let target = el;
  const ev = Object.assign({ type, defaultPrevented: false, preventDefault() { this.defaultPrevented = true; },
    stopPropagation() { stopped = true; }, composedPath: () => path.slice() }, init);
  for (let i = 0; i < path.length && !stopped; i++) {
    const n = path[i];
    if (i > 0 && path[i - 1].nodeType === 11) target = n; // left a shadow root: retarget to its host
    ev.target = target;
    ev.currentTarget = n;
    (n.listeners && n.listeners[type] || []).slice().forEach((fn) => fn(ev));
  }
  return ev;
}

// the fake clock
let clock = 0;
let seq = 0;
const timers = new Map();
const uncaught = [];
function setTimeout_(fn, ms) { const id = ++seq; timers.set(id, { at: clock + Math.max(0, +ms || 0), fn }); return id; }
function clearTimeout_(id) { timers.delete(id); }
const flush = async () => { for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r)); };
async function tick(ms) {
  const end = clock + ms;
  for (;;) {
    await flush();
    let next = null;
    for (const [id, t] of timers) if (t.at <= end && (!next || t.at < next[1].at || (t.at === next[1].at && id < next[0]))) next = [id, t];
    if (!next) break;
    timers.delete(next[0]);
    clock = next[1].at;
    try { next[1].fn(); } catch (e) { uncaught.push(String(e && e.message || e)); }
  }
  clock = end;
  await flush();
}

// the fake network: requests are recorded; h.respond answers the oldest open one.
const requests = [];
function fetch_(url, init) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    requests.push({ origin: u.origin, path: u.pathname, body: JSON.parse(init.body), credentials: init.credentials, referrerPolicy: init.referrerPolicy, open: true,
      answer(status, data) { this.open = false; resolve({ ok: status >= 200 && status < 300, status, json: async () => data }); },
      drop() { this.open = false; reject(new TypeError('Failed to fetch')); },
      // stall sends the headers, then never the body: only the request's signal ends it.
      stall(status) {
        this.open = false;
        const signal = init.signal;
        resolve({ ok: status >= 200 && status < 300, status, json: () => new Promise((_, rej) => {
          if (signal) signal.addEventListener('abort', () => rej(new Error('AbortError')));
        }) });
      } });
  });
}

const win = new El('#window', 0);
doc = new El('#document', 9);
doc.focused = null;
doc.readyState = 'complete';
doc.baseURI = 'https://shop.example/';
doc.body = doc.appendChild(new El('body'));
doc.createElement = (t) => new El(t);
Object.defineProperty(doc, 'activeElement', { get() { let f = doc.focused; if (!f) return doc.body; while (rootOf(f) !== doc) f = rootOf(f).host; return f; } });
const src = process.env.API_SRC || 'https://cg.example/1/api.js';
doc.currentScript = { src };
Object.assign(win, {
  document: doc, location: { hostname: 'shop.example' }, navigator: { language: process.env.NAV_LANG || 'en-US', userAgent: 'node',
    languages: process.env.NAV_LANGS ? process.env.NAV_LANGS.split(',') : undefined },
  performance: { now: () => clock }, setTimeout: setTimeout_, clearTimeout: clearTimeout_,
  fetch: fetch_, AbortController, URL, Promise, Date, Math, JSON, Object, Array, String, Map, Set, Error, TypeError,
  Number, isFinite, parseInt, encodeURIComponent, console,
});
win.window = win;
const ctx = vm.createContext(win);

const h = {
  win, doc, requests, uncaught, tick, flush, dispatch, El,
  load() { vm.runInContext(fs.readFileSync(process.env.API_JS, 'utf8'), ctx, { filename: 'api.js' }); },
  div(id) { const d = new El('div'); if (id) d.id = id; doc.body.appendChild(d); return d; },
  open() { return requests.filter((r) => r.open); },
  last(path) { return requests.filter((r) => r.path === path).pop(); },
  count(path) { return requests.filter((r) => r.path === path).length; },
  dialog() { const hosts = doc.body.children.filter((c) => c.shadowRoot && c.shadowRoot.querySelector('.dlg')); return hosts.length ? hosts[hosts.length - 1].shadowRoot : null; },
  checkbox(container) { return container.querySelector('div').shadowRoot.querySelector('#checkbox'); },
  field(container, name) { const f = container.querySelector('textarea[name=' + name + ']'); return f ? f.value : null; },
  challenge(id, extra) { return Object.assign({ pass: false, challenge: { id, expires_in: 300, prompt: 'p', tasks: [{ id: 't0', kind: 'yes_no', question: 'q?', text: 'x' }] } }, extra); },
  pass(token) { return { pass: true, token, expires_in: 120 }; },
};

// node exits once nothing is left to run: a scenario awaiting a promise that never
// settles ends up here.
let done = false;
process.on('beforeExit', () => { if (!done) { done = true; process.stdout.write(JSON.stringify({ harnessError: 'the scenario never finished: it awaits a promise that never settles' })); } });
(async () => {
  const scenario = new Function('h', 'return (async () => {' + process.env.SCENARIO + '})();');
  const out = await scenario(h);
  done = true;
  process.stdout.write(JSON.stringify({ out, uncaught }));
})().catch((e) => { done = true; process.stdout.write(JSON.stringify({ harnessError: String(e && e.stack || e) })); });
`

// runWidget runs one scenario against api.js and decodes what it returns into out.
func runWidget(t *testing.T, scenario string, env map[string]string, out any) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("the widget behaviour tests need node on PATH")
	}
	dir := t.TempDir()
	harness := filepath.Join(dir, "harness.js")
	js := filepath.Join(dir, "api.js")
	if err := os.WriteFile(harness, []byte(fakeDOM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(js, Script(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", harness)
	cmd.Env = append(os.Environ(), "API_JS="+js, "SCENARIO="+scenario)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	var res struct {
		Out          json.RawMessage `json:"out"`
		Uncaught     []string        `json:"uncaught"`
		HarnessError string          `json:"harnessError"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("scenario output %q: %v\n%s", stdout.String(), err, stderr.String())
	}
	if res.HarnessError != "" {
		t.Fatalf("scenario failed: %s", res.HarnessError)
	}
	for _, u := range res.Uncaught {
		t.Errorf("uncaught error thrown from a timer: %s", u)
	}
	if err := json.Unmarshal(res.Out, out); err != nil {
		t.Fatalf("scenario result %s: %v", res.Out, err)
	}
}

// The harness itself: a test-sitekey style pass fills both fields, fires the callback,
// and the token expires after expires_in, clearing the fields and firing expired-callback.
func TestHarnessTokenExpiresAfterExpiresIn(t *testing.T) {
	var got struct {
		Before, Almost, After string
		Events                []string
		Checked               string
	}
	runWidget(t, `
		h.load();
		const el = h.div('slot');
		const events = [];
		const id = h.win.hcaptcha.render(el, { sitekey: 's', callback: () => events.push('callback'), 'expired-callback': () => events.push('expired') });
		h.win.hcaptcha.execute(id);
		await h.flush();
		h.open()[0].answer(200, h.pass('tok'));
		await h.flush();
		const before = h.field(el, 'h-captcha-response') + '|' + h.field(el, 'g-recaptcha-response');
		await h.tick(119000);
		const almost = h.win.hcaptcha.getResponse(id);
		await h.tick(1000);
		return { before, almost, after: h.field(el, 'h-captcha-response') + '|' + h.win.hcaptcha.getResponse(id),
			events, checked: h.checkbox(el).getAttribute('aria-checked') };
	`, nil, &got)
	if got.Before != "tok|tok" || got.Almost != "tok" || got.After != "|" || got.Checked != "false" {
		t.Errorf("token before %q, at 119 s %q, after 120 s %q, checked %q", got.Before, got.Almost, got.After, got.Checked)
	}
	if len(got.Events) != 2 || got.Events[0] != "callback" || got.Events[1] != "expired" {
		t.Errorf("callbacks %v, want callback then expired", got.Events)
	}
}

// An answer refused because the challenge expired (or was used) brings a fresh challenge.
// Until it arrives the dialog stays busy: Submit pressed again meanwhile must not send the
// dead challenge's answers a second time (a second 410, a second chalexpired-callback and a
// second fresh challenge replacing the one the visitor started on).
func TestDialogStaysBusyWhileReplacingAnExpiredChallenge(t *testing.T) {
	var got struct {
		Answers, Issued int
		Chalexpired     int
		Busy            string
		Shown           string
	}
	runWidget(t, `
		h.load();
		const el = h.div('slot');
		let chalexpired = 0;
		h.win.hcaptcha.render(el, { sitekey: 's', 'chalexpired-callback': () => chalexpired++ });
		h.checkbox(el).click();
		await h.flush();
		h.open()[0].answer(200, h.challenge('c1'));
		await h.flush();
		const d = h.dialog();
		d.querySelector('button[data-choice=yes]').click();
		d.querySelector('#submit').click();
		await h.flush();
		h.last('/1/challenges/c1/answers').answer(410, { error: { code: 'challenge_expired' } });
		await h.flush();
		const busy = String(d.querySelector('.dlg').getAttribute('aria-busy'));
		d.querySelector('#submit').click(); // the fresh challenge has not arrived yet
		await h.flush();
		h.open().forEach((r) => { if (r.path === '/1/challenges') r.answer(200, h.challenge('c2')); else r.answer(410, { error: { code: 'challenge_expired' } }); });
		await h.flush();
		h.open().forEach((r) => r.answer(200, h.challenge('c9')));
		await h.flush();
		return { answers: h.count('/1/challenges/c1/answers'), issued: h.count('/1/challenges'), chalexpired, busy,
			shown: h.dialog().querySelector('.dlg').getAttribute('data-challenge-id') };
	`, nil, &got)
	if got.Busy != "true" {
		t.Errorf("while the fresh challenge loads the dialog has aria-busy=%s, want true", got.Busy)
	}
	if got.Answers != 1 || got.Issued != 2 || got.Chalexpired != 1 {
		t.Errorf("the expired challenge's answers were sent %d times, %d challenges issued, chalexpired-callback fired %d times; want 1, 2 (the first and its replacement), 1",
			got.Answers, got.Issued, got.Chalexpired)
	}
	if got.Shown != "c2" {
		t.Errorf("the dialog shows challenge %q, want the replacement c2", got.Shown)
	}
}

// docs/TELEMETRY.md: presses in password fields are left out. A password field inside a
// web component (an open shadow root, as component libraries build their inputs) reaches
// the document's listeners retargeted to the component, so the field itself must be read
// from the event's composed path.
func TestPasswordKeysInsideShadowDOMAreLeftOut(t *testing.T) {
	var got struct {
		Plain, Shadow []any
		Text          int
	}
	runWidget(t, `
		h.load();
		const press = (el) => { h.dispatch(el, 'keydown', { key: 'a' }); h.dispatch(el, 'keyup', { key: 'a' }); };
		const telemetryKeys = async () => {
			const el = h.div();
			const id = h.win.hcaptcha.render(el, { sitekey: 's', size: 'invisible' });
			h.win.hcaptcha.execute(id);
			await h.flush();
			const r = h.last('/1/challenges');
			r.answer(200, h.pass('tok'));
			await h.flush();
			h.win.hcaptcha.remove(id);
			return r.body.telemetry.k || [];
		};
		const form = h.div();
		const pw = form.appendChild(new h.El('input'));
		pw.type = 'password';
		press(pw);
		const plain = await telemetryKeys();
		const comp = h.div();
		const inner = comp.attachShadow({ mode: 'open' }).appendChild(new h.El('input'));
		inner.type = 'password';
		press(inner);
		press(inner);
		const shadow = await telemetryKeys();
		const text = comp.shadowRoot.appendChild(new h.El('input'));
		text.type = 'text';
		press(text);
		return { plain, shadow, text: (await telemetryKeys()).length };
	`, nil, &got)
	if len(got.Plain) != 0 {
		t.Errorf("a password field's presses were sent: k=%v", got.Plain)
	}
	if len(got.Shadow) != 0 {
		t.Errorf("a password field inside a web component had its presses sent: k=%v", got.Shadow)
	}
	if got.Text != 1 {
		t.Errorf("a text field inside a web component: %d presses sent, want 1", got.Text)
	}
}

// reset() and remove() while the checkbox's first request is still in flight: what that
// request brings back belongs to the widget as it was. After reset the widget is clean (no
// token, no callback, no dialog) and works again at once; after remove nothing is called
// back at all.
func TestResetAndRemoveDiscardTheRequestInFlight(t *testing.T) {
	var got struct {
		Token, Field, Checked string
		Events                []string
		Dialog                bool
		Again                 string
		RemovedEvents         []string
	}
	runWidget(t, `
		h.load();
		const events = [];
		const cbs = (tag) => ({ callback: () => events.push(tag + ':callback'), 'error-callback': (c) => events.push(tag + ':error:' + c), 'open-callback': () => events.push(tag + ':open') });
		const el = h.div('a');
		const id = h.win.hcaptcha.render(el, Object.assign({ sitekey: 's' }, cbs('a')));
		h.checkbox(el).click();
		await h.flush();
		const first = h.open()[0];
		h.win.hcaptcha.reset(id);
		let again = 'still pending';
		h.win.hcaptcha.execute(id, { async: true }).then((r) => { again = r.response; }, (e) => { again = 'rejected:' + e; });
		await h.flush();
		first.answer(200, h.challenge('c-old'));
		await h.flush();
		const dialog = !!h.dialog();
		h.open().forEach((r) => r.answer(200, h.pass('tok-new')));
		await h.flush();
		const out = { dialog, again, token: h.win.hcaptcha.getResponse(id), field: h.field(el, 'h-captcha-response'),
			checked: h.checkbox(el).getAttribute('aria-checked'), events: events.slice() };

		events.length = 0;
		const el2 = h.div('b');
		const id2 = h.win.hcaptcha.render(el2, Object.assign({ sitekey: 's' }, cbs('b')));
		h.checkbox(el2).click();
		await h.flush();
		const pending = h.open()[0];
		h.win.hcaptcha.remove(id2);
		pending.drop();
		await h.flush();
		out.removedEvents = events;
		return out;
	`, nil, &got)
	if got.Dialog {
		t.Error("the request sent before reset() opened a challenge dialog after it")
	}
	if got.Again != "tok-new" || got.Token != "tok-new" || got.Field != "tok-new" || got.Checked != "true" {
		t.Errorf("execute() right after reset(): resolved %q, getResponse %q, field %q, checked %s; want the new token everywhere",
			got.Again, got.Token, got.Field, got.Checked)
	}
	if len(got.Events) != 1 || got.Events[0] != "a:callback" {
		t.Errorf("callbacks %v, want only the new pass's callback", got.Events)
	}
	if len(got.RemovedEvents) != 0 {
		t.Errorf("a removed widget called back %v", got.RemovedEvents)
	}
}

// Two widgets' dialogs open at once (an invisible widget executed by the page while
// another widget's challenge is open): each dialog keeps focus from the page, but the two
// must not pull focus from each other, which recursed until the stack overflowed.
func TestTwoOpenDialogsDoNotFightOverFocus(t *testing.T) {
	var got struct {
		Errors []string
		Focus  string
		Status string
	}
	runWidget(t, `
		h.load();
		const errors = [];
		const a = h.div('a');
		h.win.hcaptcha.render(a, { sitekey: 's', 'error-callback': (c) => errors.push('a:' + c) });
		const b = h.div('b');
		const idB = h.win.hcaptcha.render(b, { sitekey: 's', size: 'invisible', 'error-callback': (c) => errors.push('b:' + c) });
		h.checkbox(a).click();
		await h.flush();
		h.open()[0].answer(200, h.challenge('ca'));
		await h.flush();
		h.win.hcaptcha.execute(idB);
		await h.flush();
		try { h.open()[0].answer(200, h.challenge('cb')); } catch (e) { errors.push(String(e)); }
		await h.flush();
		const d = h.dialog();
		const f = h.doc.focused;
		return { errors, status: d.querySelector('.err').textContent,
			focus: d.querySelector('.dlg').getAttribute('data-challenge-id') + ':' + (f ? f.getAttribute('data-choice') : 'none') + ':' + (f && d.querySelector('.dlg') && rootOfDialog(f) === d) };
		function rootOfDialog(n) { while (n.parentNode) n = n.parentNode; return n; }
	`, nil, &got)
	if len(got.Errors) != 0 || got.Status != "" {
		t.Errorf("opening a second dialog: errors %v, dialog message %q", got.Errors, got.Status)
	}
	if got.Focus != "cb:yes:true" {
		t.Errorf("focus after the second dialog opened: %s, want on its first answer (cb:yes:true)", got.Focus)
	}
}

// A click on the dialog's backdrop leaves focus on the page's body: Escape still closes the
// dialog, and with two dialogs open only the one opened last.
func TestEscapeClosesTheTopDialogWhereverFocusIs(t *testing.T) {
	var got struct {
		AfterFirst  []string
		AfterSecond []string
		Closed      []string
		FocusUnder  bool
	}
	runWidget(t, `
		h.load();
		const closed = [];
		const a = h.div('a');
		h.win.hcaptcha.render(a, { sitekey: 's', 'close-callback': () => closed.push('a') });
		const b = h.div('b');
		const idB = h.win.hcaptcha.render(b, { sitekey: 's', size: 'invisible', 'close-callback': () => closed.push('b') });
		h.checkbox(a).click();
		await h.flush();
		h.open()[0].answer(200, h.challenge('ca'));
		await h.flush();
		h.win.hcaptcha.execute(idB);
		await h.flush();
		h.open()[0].answer(200, h.challenge('cb'));
		await h.flush();
		const ids = () => h.doc.body.children.filter((c) => c.shadowRoot && c.shadowRoot.querySelector('.dlg'))
			.map((c) => c.shadowRoot.querySelector('.dlg').getAttribute('data-challenge-id'));
		h.dispatch(h.doc.body, 'keydown', { key: 'Escape' });
		await h.flush();
		const afterFirst = ids();
		const f = h.doc.focused;
		let n = f;
		while (n && n.parentNode) n = n.parentNode;
		const focusUnder = !!f && n === h.dialog();
		h.dispatch(h.doc.body, 'keydown', { key: 'Escape' });
		await h.flush();
		return { afterFirst, afterSecond: ids(), closed, focusUnder };
	`, nil, &got)
	if !got.FocusUnder {
		t.Error("after the top dialog closed, focus is not in the dialog still open underneath")
	}
	if len(got.AfterFirst) != 1 || got.AfterFirst[0] != "ca" || len(got.AfterSecond) != 0 {
		t.Errorf("dialogs open after one Escape %v, after two %v; want [ca] then none", got.AfterFirst, got.AfterSecond)
	}
	if len(got.Closed) != 2 || got.Closed[0] != "b" || got.Closed[1] != "a" {
		t.Errorf("close callbacks %v, want b then a", got.Closed)
	}
}

// A reply that sends its headers and then stalls is given up after the request timeout,
// like one that never answers: the visitor gets the network error, not a spinner forever.
func TestAStalledReplyTimesOut(t *testing.T) {
	var got struct {
		Errors []string
	}
	runWidget(t, `
		h.load();
		const errors = [];
		const a = h.div('a');
		h.win.hcaptcha.render(a, { sitekey: 's', 'error-callback': (c) => errors.push(c) });
		h.checkbox(a).click();
		await h.flush();
		h.open()[0].stall(200);
		await h.tick(15000);
		return { errors };
	`, nil, &got)
	if len(got.Errors) != 1 || got.Errors[0] != "network-error" {
		t.Errorf("error callbacks %v, want [network-error] once the 15 s timeout passed", got.Errors)
	}
}

// openWidget is a scenario's start: api.js loaded, a widget rendered with hl (none when
// empty) and its challenge requested.
func openWidget(hl string) string {
	return `h.load();
		const opts = { sitekey: 's' };
		if (` + strconv.Quote(hl) + `) opts.hl = ` + strconv.Quote(hl) + `;
		h.win.hcaptcha.execute(h.win.hcaptcha.render(h.div('slot'), opts));
		await h.flush();`
}

// The widget picks its language (and the hl it sends for the prompt and the text question)
// as crowdgate's pages do: a supported hl wins; otherwise the browser's languages in order
// of preference, not only the first; otherwise English.
func TestWidgetLanguageFollowsTheBrowsersPreferences(t *testing.T) {
	for _, tc := range []struct{ hl, langs, want string }{
		{"", "it-IT,it,de-DE,de,en", "de"},
		{"it", "it-IT,de-DE", "de"},
		{"constructor", "pt-BR,es", "es"},
		{"fr", "de-DE,de", "fr"},
		{"", "it-IT,pt", "en"},
		{"", "", "en"},
	} {
		var got string
		env := map[string]string{"NAV_LANG": "it-IT"}
		if tc.langs != "" {
			env["NAV_LANG"], _, _ = strings.Cut(tc.langs, ",")
			env["NAV_LANGS"] = tc.langs
		}
		runWidget(t, `
			`+openWidget(tc.hl)+`
			return h.last('/1/challenges').body.hl;
		`, env, &got)
		if got != tc.want {
			t.Errorf("hl %q, navigator.languages %q: widget language %q, want %q", tc.hl, tc.langs, got, tc.want)
		}
	}
}

// The accessibility sign-up link carries the widget's language, so a widget set to German
// in an English browser opens the German sign-up page (the page falls back to the
// browser's Accept-Language for a language it has no texts in, such as Spanish). A link the
// server sends that is not a web address is replaced by crowdgate's own page, also in the
// widget's language.
func TestSignupLinkCarriesTheWidgetsLanguage(t *testing.T) {
	for _, tc := range []struct{ hl, signup, want string }{
		{"de", "https://cg.example/accessibility", "https://cg.example/accessibility?hl=de"},
		{"es", "https://cg.example/accessibility?hl=en", "https://cg.example/accessibility?hl=es"},
		{"", "javascript:alert(1)", "https://cg.example/accessibility?hl=en"},
	} {
		var got string
		runWidget(t, `
			`+openWidget(tc.hl)+`
			h.open()[0].answer(200, h.challenge('c1'));
			await h.flush();
			h.dialog().querySelector('#accessibility').click();
			await h.flush();
			h.last('/1/accessibility/challenges').answer(401, { error: { code: 'accessibility_token_required', message: 'm',
				signup_url: `+strconv.Quote(tc.signup)+` } });
			await h.flush();
			const a = h.dialog().querySelector('#signup');
			return a ? a.href : '';
		`, map[string]string{"NAV_LANG": "en-US", "NAV_LANGS": "en-US,en"}, &got)
		if got != tc.want {
			t.Errorf("widget hl %q, signup_url %q: link %q, want %q", tc.hl, tc.signup, got, tc.want)
		}
	}
}

// A pass through the text question (accessibility) gives the page the same kind of
// response key as a visual pass: the visual challenge the visitor set aside, not the text
// challenge's a_ id, which would tell the page (and the site's backend, which often keeps
// the key with the token) that the visitor uses the accessibility path.
func TestTextPassRespKeyDoesNotNameTheAccessibilityPath(t *testing.T) {
	var got struct {
		Key, Resolved, Token string
	}
	runWidget(t, `
		h.load();
		const el = h.div('slot');
		const id = h.win.hcaptcha.render(el, { sitekey: 's' });
		const p = h.win.hcaptcha.execute(id, { async: true });
		await h.flush();
		h.open()[0].answer(200, h.challenge('c_1111'));
		await h.flush();
		h.dialog().querySelector('#accessibility').click();
		await h.flush();
		h.last('/1/accessibility/challenges').answer(200, { id: 'a_2222', question: 'What is four plus seven?', expires_in: 300 });
		await h.flush();
		h.dialog().querySelector('#answer').value = '11';
		h.dialog().querySelector('#submit').click();
		await h.flush();
		h.last('/1/accessibility/challenges/a_2222/answers').answer(200, h.pass('P1_text'));
		await h.flush();
		const res = await p;
		return { key: h.win.hcaptcha.getRespKey(id), resolved: res.key, token: h.win.hcaptcha.getResponse(id) };
	`, nil, &got)
	if got.Token != "P1_text" {
		t.Fatalf("token %q after the text pass, want P1_text", got.Token)
	}
	if got.Key != "c_1111" || got.Resolved != "c_1111" {
		t.Errorf("getRespKey %q, execute's key %q after a text pass; want the visual challenge's c_1111", got.Key, got.Resolved)
	}
}

// A question in another language than the widget's (a job without a question in it, or
// the text questions, which exist in English and German only) is marked with its own
// language, so a screen reader reads it in that language's voice; a question without a
// lang (or with a malformed one) speaks the widget's.
func TestQuestionIsMarkedWithItsLanguage(t *testing.T) {
	var got struct{ Host, First, Second, Third, Text string }
	runWidget(t, `
		`+openWidget("fr")+`
		h.open()[0].answer(200, { pass: false, challenge: { id: 'c_1', expires_in: 300, prompt: 'Veuillez répondre à 3 questions', tasks: [
			{ id: 't0', kind: 'yes_no', question: 'Ist dieser Satz positiv?', lang: 'de', text: 'x' },
			{ id: 't1', kind: 'yes_no', question: 'Cette phrase est-elle positive ?', text: 'y' },
			{ id: 't2', kind: 'yes_no', question: 'Is this positive?', lang: 'en" onclick="x', text: 'z' }] } });
		await h.flush();
		const d = h.dialog();
		const lang = () => d.querySelector('#question').lang || '';
		const out = { host: d.host.lang, first: lang() };
		for (const key of ['second', 'third']) {
			d.querySelector('[data-choice=yes]').click();
			d.querySelector('#submit').click();
			await h.flush();
			out[key] = lang();
		}
		d.querySelector('#accessibility').click();
		await h.flush();
		h.last('/1/accessibility/challenges').answer(200, { id: 'a_1', question: 'What is four plus seven?', lang: 'en', expires_in: 300 });
		await h.flush();
		out.text = lang();
		return out;
	`, nil, &got)
	if got.Host != "fr" || got.First != "de" || got.Second != "" || got.Third != "" || got.Text != "en" {
		t.Errorf("dialog lang %q; question langs %q, %q, %q, text question %q; want fr; de, none, none, en",
			got.Host, got.First, got.Second, got.Third, got.Text)
	}
}

// A yes/no task's text is the customer's item, in the language the job says its items are
// in (text_lang), which can be neither the widget's nor the question's: the text is marked
// with it, so a screen reader reads a Portuguese review in a French widget with a
// Portuguese voice, and the question keeps its own. A text without text_lang (or with a
// malformed one) speaks the widget's language, as before.
func TestItemTextIsMarkedWithItsLanguage(t *testing.T) {
	var got []struct{ Question, Text, Content, Dir string }
	runWidget(t, `
		`+openWidget("fr")+`
		h.open()[0].answer(200, { pass: false, challenge: { id: 'c_1', expires_in: 300, prompt: 'Veuillez répondre à 3 questions', tasks: [
			{ id: 't0', kind: 'yes_no', question: 'Cette phrase est-elle positive ?', lang: 'fr', text: 'Chegou no prazo, ótimo', text_lang: 'pt-BR' },
			{ id: 't1', kind: 'yes_no', question: 'Cette phrase est-elle positive ?', lang: 'fr', text: 'Arrivé à temps' },
			{ id: 't2', kind: 'yes_no', question: 'Cette phrase est-elle positive ?', lang: 'fr', text: 'z', text_lang: 'de" onclick="x' }] } });
		await h.flush();
		const d = h.dialog();
		const langOf = (el) => (el && (el.lang || el.getAttribute('lang'))) || '';
		const seen = () => {
			const text = d.querySelector('blockquote.text');
			return { question: langOf(d.querySelector('#question')), text: langOf(text), content: text ? text.textContent : '',
				dir: text ? text.getAttribute('dir') || '' : '' };
		};
		const out = [seen()];
		for (let i = 0; i < 2; i++) {
			d.querySelector('[data-choice=yes]').click();
			d.querySelector('#submit').click();
			await h.flush();
			out.push(seen());
		}
		return out;
	`, nil, &got)
	// Every item text takes its direction from its own letters (dir=auto), whatever the
	// widget's.
	want := []struct{ Question, Text, Content, Dir string }{
		{"fr", "pt-BR", "Chegou no prazo, ótimo", "auto"}, {"fr", "", "Arrivé à temps", "auto"}, {"fr", "", "z", "auto"},
	}
	if len(got) != len(want) {
		t.Fatalf("tasks seen %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("task %d: question lang %q, text lang %q dir %q (text %q); want %q, %q %q (%q)",
				i, got[i].Question, got[i].Text, got[i].Dir, got[i].Content, want[i].Question, want[i].Text, want[i].Dir, want[i].Content)
		}
	}
}

// Timers stand still while a device sleeps or a mobile browser freezes a background page,
// so the expiry timer can fire long after the token died. The wall clock decides when the
// page comes back, when the form is submitted (before its fields are read) and when the
// page asks for the response: the dead token is cleared and expired-callback fires once.
func TestTokenExpiresByTheWallClockAfterTheDeviceSlept(t *testing.T) {
	var got struct {
		Before                      string
		Visible, Submit, GetResp    string
		Events, SubmitEv, GetRespEv []string
	}
	runWidget(t, `
		h.load();
		let wall = 1e12;
		h.win.Date = { now: () => wall };
		const pass = async (el) => {
			const events = [];
			const id = h.win.hcaptcha.render(el, { sitekey: 's', callback: () => events.push('callback'), 'expired-callback': () => events.push('expired') });
			h.win.hcaptcha.execute(id);
			await h.flush();
			h.open()[0].answer(200, h.pass('tok'));
			await h.flush();
			return { id, events };
		};
		const a = await pass(h.div('a'));
		const before = h.field(h.doc.getElementById('a'), 'h-captcha-response');
		wall += 10 * 60 * 1000; // ten minutes asleep: no timer ran
		await h.tick(1000);
		h.dispatch(h.doc, 'visibilitychange', {});
		const visible = h.field(h.doc.getElementById('a'), 'h-captcha-response');
		h.win.hcaptcha.remove(a.id);

		const b = await pass(h.div('b'));
		wall += 10 * 60 * 1000;
		h.dispatch(h.doc.getElementById('b'), 'submit', {});
		const submit = h.field(h.doc.getElementById('b'), 'h-captcha-response');
		h.win.hcaptcha.remove(b.id);

		const c = await pass(h.div('c'));
		wall += 10 * 60 * 1000;
		const getResp = h.win.hcaptcha.getResponse(c.id) + '|' + h.field(h.doc.getElementById('c'), 'h-captcha-response');
		await h.tick(200000); // the late timer fires no second expired-callback
		return { before, visible, submit, getResp, events: a.events, submitEv: b.events, getRespEv: c.events };
	`, nil, &got)
	if got.Before != "tok" {
		t.Fatalf("token before sleeping %q", got.Before)
	}
	if got.Visible != "" || got.Submit != "" || got.GetResp != "|" {
		t.Errorf("after ten minutes asleep the token is still there: on visibilitychange %q, on submit %q, getResponse|field %q", got.Visible, got.Submit, got.GetResp)
	}
	for _, ev := range [][]string{got.Events, got.SubmitEv, got.GetRespEv} {
		if len(ev) != 2 || ev[0] != "callback" || ev[1] != "expired" {
			t.Errorf("callbacks %v, want callback then expired once", ev)
		}
	}
}

// A visitor refused for minutes (429 try_later, here after a failed answer) reads "try
// again in about N min" in the dialog, and nothing in it can lead to a pass now. A page
// awaiting execute({async: true}) hears it at once, as hCaptcha's promise rejects with
// the error-callback's code: rate-limited, not a promise left pending until the visitor
// closes the dialog (and then rejected as challenge-closed).
func TestRateLimitedInTheDialogRejectsTheExecutePromise(t *testing.T) {
	var got struct {
		Settled, Message string
		Errors, Closes   []string
	}
	runWidget(t, `
		h.load();
		const errors = [];
		const closes = [];
		const id = h.win.hcaptcha.render(h.div('slot'), { sitekey: 's', 'error-callback': (c) => errors.push(c), 'close-callback': () => closes.push('close') });
		let settled = 'pending';
		h.win.hcaptcha.execute(id, { async: true }).then((r) => { settled = 'resolved:' + r.response; }, (e) => { settled = 'rejected:' + e; });
		await h.flush();
		h.open()[0].answer(200, h.challenge('c1'));
		await h.flush();
		const d = h.dialog();
		d.querySelector('button[data-choice=no]').click();
		d.querySelector('#submit').click();
		await h.flush();
		h.last('/1/challenges/c1/answers').answer(429, { error: { code: 'try_later', message: 'm', retry_after: 900 } });
		await h.flush();
		const out = { settled, message: d.querySelector('.err').textContent };
		d.querySelector('.x').click(); // the visitor read it and closes the dialog
		await h.flush();
		out.settled += '|' + settled;
		return Object.assign(out, { errors, closes });
	`, nil, &got)
	if got.Settled != "rejected:rate-limited|rejected:rate-limited" {
		t.Errorf("execute({async: true}) after a try_later in the dialog, then after the close: %s; want rejected:rate-limited at once", got.Settled)
	}
	if !strings.Contains(got.Message, "15 min") {
		t.Errorf("dialog message %q, want the wait (about 15 min)", got.Message)
	}
	if len(got.Errors) != 1 || got.Errors[0] != "rate-limited" || len(got.Closes) != 1 {
		t.Errorf("error-callback %v, close-callback %v; want [rate-limited] once, and the close", got.Errors, got.Closes)
	}
}

// A page that resets the widget in its error-callback (react-hcaptcha does) still learns
// why the attempt ended: the promise is rejected with the error's code before the callback
// runs, not with the challenge-closed that the reset would give it.
func TestExecutePromiseCarriesTheErrorCodeWhenTheErrorCallbackResets(t *testing.T) {
	var got struct{ Start, Dialog string }
	runWidget(t, `
		h.load();
		const run = async (slot, inDialog) => {
			const id = h.win.hcaptcha.render(h.div(slot), { sitekey: 's', 'error-callback': () => h.win.hcaptcha.reset(id) });
			let settled = 'pending';
			h.win.hcaptcha.execute(id, { async: true }).then(() => { settled = 'resolved'; }, (e) => { settled = 'rejected:' + e; });
			await h.flush();
			if (inDialog) {
				h.last('/1/challenges').answer(200, h.challenge('c-' + slot));
				await h.flush();
				h.dialog().querySelector('button[data-choice=no]').click();
				h.dialog().querySelector('#submit').click();
				await h.flush();
				h.last('/1/challenges/c-' + slot + '/answers').answer(429, { error: { code: 'try_later', message: 'm', retry_after: 60 } });
			} else {
				h.last('/1/challenges').answer(404, { error: { code: 'unknown_sitekey', message: 'm' } });
			}
			await h.flush();
			return settled;
		};
		return { start: await run('a', false), dialog: await run('b', true) };
	`, nil, &got)
	if got.Start != "rejected:invalid-data" || got.Dialog != "rejected:rate-limited" {
		t.Errorf("execute({async: true}) with a resetting error-callback: unknown sitekey %s, try_later in the dialog %s; want rejected:invalid-data, rejected:rate-limited",
			got.Start, got.Dialog)
	}
}

// hCaptcha's error-callback means "an error, and it cannot continue": its official clients
// reset the widget there (react-hcaptcha does), and pages tell the visitor to start again.
// A failure the visitor can get past inside the open dialog is therefore shown there only:
// the network failing while the answers are sent (Submit again), or the answered challenge
// being gone (a fresh one is shown). Neither calls error-callback, so a page that resets on
// it does not close the dialog under the visitor; the retried pass resolves the promise.
func TestARetryableErrorInTheDialogIsNotAnErrorCallback(t *testing.T) {
	var got struct {
		Settled string
		Errors  []string
		Shown   string
	}
	runWidget(t, `
		h.load();
		const errors = [];
		// as react-hcaptcha does: reset the widget on every error-callback
		const id = h.win.hcaptcha.render(h.div('slot'), { sitekey: 's', 'error-callback': (c) => { errors.push(c); h.win.hcaptcha.reset(id); } });
		let settled = 'pending';
		h.win.hcaptcha.execute(id, { async: true }).then((r) => { settled = 'resolved:' + r.response; }, (e) => { settled = 'rejected:' + e; });
		await h.flush();
		h.open()[0].answer(200, h.challenge('c1'));
		await h.flush();
		const d = h.dialog();
		d.querySelector('button[data-choice=yes]').click();
		d.querySelector('#submit').click();
		await h.flush();
		h.last('/1/challenges/c1/answers').drop();
		await h.flush();
		const between = settled;
		if (!h.dialog()) return { settled: between, errors, shown: 'closed after the network error' };
		d.querySelector('#submit').click();
		await h.flush();
		h.last('/1/challenges/c1/answers').answer(409, { error: { code: 'challenge_used', message: 'm' } });
		await h.flush();
		h.last('/1/challenges').answer(200, h.challenge('c2'));
		await h.flush();
		if (!h.dialog()) return { settled: between + '|' + settled, errors, shown: 'closed after the used challenge' };
		const shown = h.dialog().querySelector('.dlg').getAttribute('data-challenge-id');
		h.dialog().querySelector('button[data-choice=yes]').click();
		h.dialog().querySelector('#submit').click();
		await h.flush();
		h.last('/1/challenges/c2/answers').answer(200, h.pass('tok'));
		await h.flush();
		return { settled: between + '|' + settled, errors, shown };
	`, nil, &got)
	if len(got.Errors) != 0 {
		t.Errorf("error-callback %v for failures the dialog got past; want none", got.Errors)
	}
	if got.Shown != "c2" || got.Settled != "pending|resolved:tok" {
		t.Errorf("after a network error and a used challenge the dialog shows %q and execute({async: true}) is %s; want c2, pending|resolved:tok", got.Shown, got.Settled)
	}
}

// A refusal for minutes (429 try_later) or a site not set up for the page ends the
// attempt: the page has heard error-callback once, and nothing in the dialog can lead to a
// pass now. So Submit, New challenge and the accessibility link are disabled (pressing them
// sends nothing and calls nothing back again), focus moves to Close, the one control left,
// and the challenge's timer no longer replaces the challenge behind the message.
func TestAnAttemptEndingErrorDisablesTheDialog(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
		want   string
	}{{429, "try_later", "rate-limited"}, {403, "hostname_not_allowed", "invalid-data"}} {
		var got struct {
			Errors, Chalexpired []string
			Requests            int
			Disabled            []bool
			Focus               string
		}
		runWidget(t, `
			h.load();
			const errors = [];
			const chalexpired = [];
			h.win.hcaptcha.render(h.div('slot'), { sitekey: 's', 'error-callback': (c) => errors.push(c), 'chalexpired-callback': () => chalexpired.push('x') });
			h.checkbox(h.doc.getElementById('slot')).click();
			await h.flush();
			h.open()[0].answer(200, h.challenge('c1'));
			await h.flush();
			const d = h.dialog();
			d.querySelector('button[data-choice=yes]').click();
			d.querySelector('#submit').click();
			await h.flush();
			h.last('/1/challenges/c1/answers').answer(`+strconv.Itoa(tc.status)+`, { error: { code: '`+tc.code+`', message: 'm', retry_after: 900 } });
			await h.flush();
			const sent = h.requests.length;
			const controls = ['#submit', '#new-challenge', '#accessibility'].map((s) => d.querySelector(s));
			controls.forEach((b) => b.click());
			await h.flush();
			await h.tick(600000); // the challenge's 300 s run out behind the message
			h.open().forEach((r) => r.answer(200, h.challenge('c2')));
			await h.flush();
			const f = h.doc.focused;
			return { errors, chalexpired, requests: h.requests.length - sent, disabled: controls.map((b) => b.disabled === true),
				focus: f ? (f.getAttribute('aria-label') || f.id || f.tagName) : 'none' };
		`, nil, &got)
		if len(got.Errors) != 1 || got.Errors[0] != tc.want || got.Requests != 0 || len(got.Chalexpired) != 0 {
			t.Errorf("%s in the dialog, then Submit, New challenge and the accessibility link pressed and the challenge's time run out: error-callback %v, %d more requests, chalexpired-callback %v; want [%s] once, none, none",
				tc.code, got.Errors, got.Requests, got.Chalexpired, tc.want)
		}
		for i, name := range []string{"Submit", "New challenge", "the accessibility link"} {
			if i >= len(got.Disabled) || !got.Disabled[i] {
				t.Errorf("%s: %s is not disabled (%v)", tc.code, name, got.Disabled)
			}
		}
		if got.Focus != "Close" {
			t.Errorf("%s: focus on %q, want the Close button", tc.code, got.Focus)
		}
	}
}

// hcaptcha.remove(id) while the widget's dialog is open takes the checkbox away with the
// dialog: keyboard focus goes to the widget's container (made focusable for it), not to the
// page's body, where a keyboard or screen-reader user would start over at the top. An
// invisible widget's dialog gives focus back to what had it before it opened.
func TestRemoveWithTheDialogOpenKeepsFocusOnThePage(t *testing.T) {
	var got struct {
		Checkbox, Invisible string
		Tabindex            string
	}
	runWidget(t, `
		h.load();
		const name = () => { const f = h.doc.focused; return f ? f.tagName + '#' + f.id : 'body'; };
		const el = h.div('slot');
		const id = h.win.hcaptcha.render(el, { sitekey: 's' });
		h.checkbox(el).focus();
		h.checkbox(el).click();
		await h.flush();
		h.open()[0].answer(200, h.challenge('c1'));
		await h.flush();
		h.win.hcaptcha.remove(id);
		const checkbox = name();
		const tabindex = el.getAttribute('tabindex');

		const button = h.doc.body.appendChild(new h.El('button'));
		button.id = 'go';
		const id2 = h.win.hcaptcha.render(h.div('inv'), { sitekey: 's', size: 'invisible' });
		button.focus();
		h.win.hcaptcha.execute(id2);
		await h.flush();
		h.open()[0].answer(200, h.challenge('c2'));
		await h.flush();
		h.win.hcaptcha.remove(id2);
		return { checkbox, tabindex, invisible: name() };
	`, nil, &got)
	if got.Checkbox != "DIV#slot" || got.Tabindex != "-1" {
		t.Errorf("remove() with the checkbox's dialog open: focus on %s (container tabindex %q); want DIV#slot, made focusable with tabindex -1", got.Checkbox, got.Tabindex)
	}
	if got.Invisible != "BUTTON#go" {
		t.Errorf("remove() with an invisible widget's dialog open: focus on %s, want BUTTON#go, which had it before", got.Invisible)
	}
}

// The challenge's time running out while its answers are on the way: the answer decides.
// Answered too late, the server says challenge_expired and chalexpired-callback fires once
// with one fresh challenge (not once for the timer and again for the answer, with two
// fresh challenges racing); answered in time, the pass stands and nothing expired; the
// answer lost to the network, the dialog then replaces the expired challenge.
func TestChallengeExpiringWhileItsAnswerIsInFlightExpiresOnce(t *testing.T) {
	for _, tc := range []struct {
		name, reply      string
		chalexpired      int
		issued           int
		token, challenge string
	}{
		{"expired", `r.answer(410, { error: { code: 'challenge_expired', message: 'm' } })`, 1, 2, "", "c2"},
		{"passed", `r.answer(200, h.pass('tok'))`, 0, 1, "tok", ""},
		{"network", `r.drop()`, 1, 2, "", "c2"},
	} {
		var got struct {
			Chalexpired, Issued int
			Token, Challenge    string
		}
		runWidget(t, `
			h.load();
			let chalexpired = 0;
			const id = h.win.hcaptcha.render(h.div('slot'), { sitekey: 's', 'chalexpired-callback': () => chalexpired++ });
			h.win.hcaptcha.execute(id);
			await h.flush();
			h.open()[0].answer(200, h.challenge('c1'));
			await h.flush();
			const d = h.dialog();
			d.querySelector('button[data-choice=yes]').click();
			d.querySelector('#submit').click();
			await h.flush();
			await h.tick(300000); // the challenge's expires_in passes while the answer is out
			const r = h.last('/1/challenges/c1/answers');
			`+tc.reply+`;
			await h.tick(0); // what the reply's handling left to run next
			h.open().forEach((o) => o.answer(200, h.challenge('c2')));
			await h.flush();
			const dlg = h.dialog();
			return { chalexpired, issued: h.count('/1/challenges'), token: h.win.hcaptcha.getResponse(id),
				challenge: dlg ? dlg.querySelector('.dlg').getAttribute('data-challenge-id') : '' };
		`, nil, &got)
		if got.Chalexpired != tc.chalexpired || got.Issued != tc.issued || got.Token != tc.token || got.Challenge != tc.challenge {
			t.Errorf("%s: chalexpired-callback %d times, %d challenges requested, token %q, dialog shows %q; want %d, %d, %q, %q",
				tc.name, got.Chalexpired, got.Issued, got.Token, got.Challenge, tc.chalexpired, tc.issued, tc.token, tc.challenge)
		}
	}
}

// The host page's URL (its path and query: a search, an order number, a reset token) is
// not the widget's to send. Every request the widget makes carries the page's hostname
// only (in the body; the browser adds Origin), whatever Referrer-Policy the page chose:
// the requests are made with referrerPolicy same-origin, so a page with a policy such as
// unsafe-url does not hand its full URL to crowdgate. The accessibility sign-up link opens
// without a referrer for the same reason; tile images already load with none.
func TestRequestsCarryNoReferrer(t *testing.T) {
	var got struct {
		Policies []string
		Hosts    []string
		Rel      string
	}
	runWidget(t, `
		h.load();
		h.win.hcaptcha.execute(h.win.hcaptcha.render(h.div('slot'), { sitekey: 's' }));
		await h.flush();
		h.open()[0].answer(200, h.challenge('c1'));
		await h.flush();
		const d = h.dialog();
		d.querySelector('button[data-choice=yes]').click();
		d.querySelector('#submit').click();
		await h.flush();
		h.last('/1/challenges/c1/answers').answer(200, h.challenge('c2'));
		await h.flush();
		d.querySelector('#accessibility').click();
		await h.flush();
		h.last('/1/accessibility/challenges').answer(200, { id: 'a_1', question: 'What is four plus seven?', expires_in: 300 });
		await h.flush();
		d.querySelector('#answer').value = '11';
		d.querySelector('#submit').click();
		await h.flush();
		h.last('/1/accessibility/challenges/a_1/answers').answer(401, { error: { code: 'accessibility_token_required', message: 'm', signup_url: 'https://cg.example/accessibility' } });
		await h.flush();
		const a = d.querySelector('#signup');
		return { policies: h.requests.map((r) => r.path + ' ' + r.referrerPolicy), hosts: h.requests.filter((r) => 'host' in r.body).map((r) => r.body.host),
			rel: a ? a.rel : 'no link' };
	`, nil, &got)
	if len(got.Policies) != 4 {
		t.Fatalf("requests %v, want 4", got.Policies)
	}
	for _, p := range got.Policies {
		if !strings.HasSuffix(p, " same-origin") {
			t.Errorf("request %s: want referrerPolicy same-origin", p)
		}
	}
	for _, h := range got.Hosts {
		if h != "shop.example" {
			t.Errorf("a request names the page as %q, want its hostname shop.example only", h)
		}
	}
	if !strings.Contains(" "+got.Rel+" ", " noreferrer ") {
		t.Errorf("the sign-up link's rel is %q, want noreferrer", got.Rel)
	}
}

// Key timing is left out, like a password's, in fields whose autocomplete says they take a
// one-time code or a payment card's number, security code or expiry: the rhythm of typing
// digits says something about the digits, and the number of presses gives the length. Other
// fields (an e-mail address) still count.
func TestKeysInCodeAndCardFieldsAreLeftOut(t *testing.T) {
	var got struct {
		Secret []string
		Email  int
	}
	runWidget(t, `
		h.load();
		const press = (el) => { h.dispatch(el, 'keydown', { key: '4' }); h.dispatch(el, 'keyup', { key: '4' }); };
		const telemetryKeys = async () => {
			const el = h.div();
			const id = h.win.hcaptcha.render(el, { sitekey: 's', size: 'invisible' });
			h.win.hcaptcha.execute(id);
			await h.flush();
			const r = h.last('/1/challenges');
			r.answer(200, h.pass('tok'));
			await h.flush();
			h.win.hcaptcha.remove(id);
			return (r.body.telemetry.k || []).length;
		};
		const field = (ac) => { const f = h.div().appendChild(new h.El('input')); f.type = 'text'; f.setAttribute('autocomplete', ac); return f; };
		// every document carries the presses since the script started: count what one adds
		const secret = [];
		let before = await telemetryKeys();
		for (const ac of ['cc-number', 'section-pay billing cc-csc', 'CC-EXP', 'cc-exp-month', 'one-time-code', 'shipping cc-exp-year']) {
			press(field(ac));
			const after = await telemetryKeys();
			if (after !== before) secret.push(ac);
			before = after;
		}
		press(field('email'));
		return { secret, email: (await telemetryKeys()) - before };
	`, nil, &got)
	if len(got.Secret) != 0 {
		t.Errorf("key presses were sent from fields with autocomplete %q", got.Secret)
	}
	if got.Email != 1 {
		t.Errorf("an e-mail field: %d presses sent, want 1", got.Email)
	}
}

// A page that calls execute() with nothing focused (the body) and then remove() while the
// dialog is open: there was nowhere to return to, so focus goes to the widget's container,
// not to the body.
func TestRemoveAfterExecuteWithNothingFocusedFocusesTheContainer(t *testing.T) {
	var got string
	runWidget(t, `
		h.load();
		const el = h.div('slot');
		const id = h.win.hcaptcha.render(el, { sitekey: 's' });
		h.win.hcaptcha.execute(id);
		await h.flush();
		h.open()[0].answer(200, h.challenge('c1'));
		await h.flush();
		h.win.hcaptcha.remove(id);
		const f = h.doc.focused;
		return f ? f.tagName + '#' + f.id : 'body';
	`, nil, &got)
	if got != "DIV#slot" {
		t.Errorf("remove() after execute() with nothing focused: focus on %s, want the container DIV#slot", got)
	}
}
