// What every browser script of the e2e tests shares: the configuration (CG_E2E), bounded
// waits, launching headless Chromium through playwright-core, console capture, lookups
// through the widget's open shadow roots, and the runner that prints one JSON line of
// observations (the Go test makes the assertions; runScript in browser_test.go).
import { chromium } from 'playwright-core';
import path from 'node:path';

export const cfg = JSON.parse(process.env.CG_E2E || '{}');
export const WAIT_MS = cfg.waitMs || 20000;
export const VIEW = { width: 900, height: 760 };

export function log(...args) {
  console.error(new Date().toISOString().slice(11, 23), ...args);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// until polls fn (real time, on the node side) until it returns a truthy value.
export async function until(fn, what, ms = WAIT_MS) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out after ' + ms + ' ms waiting for ' + what);
    await sleep(100);
  }
}

// launch starts Chromium with a fresh profile; more.args and more.options add to the
// defaults (the risk tests hide automation tells, for example).
export async function launch(more = {}) {
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', ...(more.args || [])];
  const ctx = await chromium.launchPersistentContext(cfg.userDataDir, {
    executablePath: cfg.chromium,
    headless: true,
    viewport: VIEW,
    locale: cfg.locale || 'en-US',
    ...(more.options || {}),
    args,
  });
  ctx.setDefaultTimeout(WAIT_MS);
  return ctx;
}

// watch collects the page's console errors and warnings and its uncaught errors.
export function watch(page, sink) {
  page.on('console', (m) => {
    const where = (m.location() && m.location().url) || '';
    log('console.' + m.type() + ':', m.text(), where);
    // Browsers ask every origin for a favicon; its 404 says nothing about the widget.
    if (/\/favicon\.ico$/.test(where)) return;
    if (m.type() === 'error' || m.type() === 'warning') sink.push(m.type() + ': ' + m.text() + ' ' + where);
  });
  page.on('pageerror', (e) => {
    log('pageerror:', e.message);
    sink.push('pageerror: ' + e.message);
  });
}

// In-page helpers: the widget lives in open shadow roots, so look through them.
export const PAGE_HELPERS = () => {
  window.__deep = function (sel, root) {
    root = root || document;
    const hit = root.querySelector(sel);
    if (hit) return hit;
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) {
        const f = window.__deep(sel, el.shadowRoot);
        if (f) return f;
      }
    }
    return null;
  };
};

// deepActive describes the focused element, through shadow roots.
export async function deepActive(page) {
  return page.evaluate(() => {
    let a = document.activeElement;
    while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
    if (!a) return null;
    const cs = getComputedStyle(a);
    return {
      id: a.id, tag: a.tagName.toLowerCase(), role: a.getAttribute('role'), type: a.getAttribute('type'),
      tile: a.getAttribute('data-tile-id'), choice: a.getAttribute('data-choice'),
      inDialog: !!a.closest('[role=dialog]'), text: (a.textContent || '').trim().slice(0, 80),
      outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0,
      label: a.labels && a.labels.length ? a.labels[0].textContent : '',
    };
  });
}

// tabTo presses key until the focused element satisfies pred.
export async function tabTo(page, pred, max = 12, key = 'Tab') {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(key);
    const a = await deepActive(page);
    if (a && pred(a)) return a;
  }
  throw new Error(key + ' did not reach the wanted element within ' + max + ' presses');
}

// run runs the scenario named by the first argument and exits: 0 with its observations as
// one JSON line on stdout, 1 with a screenshot in cfg.artifacts when it failed, 2 for an
// unknown name. pageHelpers adds PAGE_HELPERS to every page.
export async function run(scenarios, { launchWith = {}, pageHelpers = true } = {}) {
  const name = process.argv[2];
  if (!scenarios[name]) {
    console.error('unknown scenario ' + name + '; have ' + Object.keys(scenarios).join(', '));
    process.exit(2);
  }
  const ctx = await launch(launchWith);
  let code = 0;
  try {
    if (pageHelpers) await ctx.addInitScript(PAGE_HELPERS);
    const page = ctx.pages()[0] || (await ctx.newPage());
    const result = await scenarios[name](page, ctx);
    process.stdout.write(JSON.stringify(result) + '\n');
  } catch (e) {
    console.error('scenario ' + name + ' failed: ' + (e && e.stack ? e.stack : e));
    try {
      const page = ctx.pages()[0];
      if (page && cfg.artifacts) {
        await page.screenshot({ path: path.join(cfg.artifacts, 'failure-' + name + '.png') });
        console.error('screenshot of the failure: ' + path.join(cfg.artifacts, 'failure-' + name + '.png'));
      }
    } catch (_) { /* best effort */ }
    code = 1;
  } finally {
    await ctx.close();
  }
  process.exit(code);
}
