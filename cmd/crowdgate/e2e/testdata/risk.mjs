// Browser scenarios of the risk tests. Usage: CG_E2E='{json config}' node risk.mjs NAME
// Like scenarios.mjs: headless Chromium through playwright-core, bounded waits, one JSON
// line of observations on stdout; the Go test makes the assertions.
//
// The pointer is driven two ways:
//   robot — page.mouse.move(x, y, {steps}) : straight lines at constant speed, each step
//           sent as soon as the last was dispatched (what automation libraries do);
//   human — a recorded human movement (cfg.movements, from SapiMouse) replayed with its
//           own timing, shifted (and mirrored when needed) so that it ends on the target.
import path from 'node:path';
import { cfg, WAIT_MS, VIEW, log, sleep, until, watch, run } from './harness.mjs';

// centre finds an element through the widget's open shadow roots — inside the challenge
// dialog when one is open (the page may use the same ids) — and returns its centre.
async function centre(page, sel) {
  const box = await page.evaluate((s) => {
    const find = (root, q) => {
      const hit = root.querySelector(q);
      if (hit) return hit;
      for (const el of root.querySelectorAll('*')) {
        if (el.shadowRoot) {
          const f = find(el.shadowRoot, q);
          if (f) return f;
        }
      }
      return null;
    };
    const dlg = find(document, '[role=dialog]');
    const el = (dlg && dlg.querySelector(s)) || find(document, s);
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return { x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height };
  }, sel);
  if (!box) throw new Error('no element ' + sel);
  return box;
}

async function dialogState(page) {
  return page.evaluate(() => {
    const find = (root, s) => {
      const hit = root.querySelector(s);
      if (hit) return hit;
      for (const el of root.querySelectorAll('*')) {
        if (el.shadowRoot) {
          const f = find(el.shadowRoot, s);
          if (f) return f;
        }
      }
      return null;
    };
    const d = find(document, '[role=dialog]');
    if (!d) return null;
    const task = d.querySelector('[data-task-id]');
    const alert = d.querySelector('[role=alert]');
    return {
      id: d.getAttribute('data-challenge-id'), task: task ? task.getAttribute('data-task-id') : null,
      error: alert ? alert.textContent : '',
      tiles: Array.from(d.querySelectorAll('button[data-tile-id]')).map((b) => b.getAttribute('data-tile-id')),
      yesNo: d.querySelectorAll('button[data-choice]').length > 0,
      imagesLoaded: Array.from(d.querySelectorAll('img')).every((i) => i.complete),
    };
  });
}

async function gold(id) {
  const res = await fetch(cfg.oracleURL + '?id=' + encodeURIComponent(id));
  if (!res.ok) throw new Error('oracle answered ' + res.status + ' for ' + id + ': ' + (await res.text()));
  return (await res.json()).answers;
}

// ---- pointer drivers ----

let cursor = { x: 40, y: 40 };

const robot = {
  human: false,
  async to(page, x, y) {
    await page.mouse.move(x, y, { steps: cfg.steps || 25 });
    cursor = { x, y };
  },
};

// human replays recorded movements: each is a list of [t ms, dx, dy] ending at (0, 0), the
// place of the recorded click.
const human = {
  human: true,
  used: 0,
  fits(m, x, y, sx, sy) {
    return m.every((p) => {
      const px = x + sx * p[1];
      const py = y + sy * p[2];
      return px >= 2 && py >= 2 && px <= VIEW.width - 2 && py <= VIEW.height - 2;
    });
  },
  async to(page, x, y) {
    const all = cfg.movements || [];
    for (let k = 0; k < all.length; k++) {
      const m = all[(this.used + k) % all.length];
      for (const [sx, sy] of [[1, 1], [-1, 1], [1, -1], [-1, -1]]) {
        if (!this.fits(m, x, y, sx, sy)) continue;
        this.used = (this.used + k + 1) % all.length;
        // Jump to the movement's start and rest, as a hand does between aims: the jump is a
        // single event, which the model never sees as part of a movement.
        await page.mouse.move(x + sx * m[0][1], y + sy * m[0][2]);
        await sleep(450);
        const t0 = Date.now();
        for (const p of m) {
          const wait = t0 + p[0] - Date.now();
          if (wait > 0) await sleep(wait);
          await page.mouse.move(x + sx * p[1], y + sy * p[2]);
        }
        cursor = { x, y };
        return;
      }
    }
    throw new Error('no recorded movement fits a target at ' + x + ',' + y);
  },
};

async function click(page, driver, sel) {
  const c = await centre(page, sel);
  // People do not hit the exact centre.
  const x = Math.round(c.x + (Math.random() - 0.5) * c.w * 0.4);
  const y = Math.round(c.y + (Math.random() - 0.5) * c.h * 0.4);
  await driver.to(page, x, y);
  if (driver.human) await sleep(80 + Math.random() * 120);
  await page.mouse.down();
  if (driver.human) await sleep(60 + Math.random() * 60);
  await page.mouse.up();
}

// solveByPointer opens the challenge with a click on the checkbox and answers every task
// with the oracle's answers, using only the pointer.
async function solveByPointer(page, driver, onOpen) {
  await page.locator('#checkbox').waitFor();
  await click(page, driver, '#checkbox');
  const first = await until(() => dialogState(page), 'the challenge dialog');
  if (onOpen) await onOpen(first);
  const answers = await gold(first.id);
  let tasks = 0;
  for (let step = 0; step < 10; step++) {
    const st = await until(async () => {
      const s = await dialogState(page);
      return s && s.imagesLoaded ? s : null;
    }, 'the task images');
    const want = answers[st.task] || {};
    tasks++;
    if (st.tiles.length) {
      for (const tile of want.selected || []) await click(page, driver, 'button[data-tile-id="' + tile + '"]');
    } else {
      await click(page, driver, 'button[data-choice="' + (want.choice || 'yes') + '"]');
    }
    await click(page, driver, '#submit');
    const next = await until(async () => {
      const s = await dialogState(page);
      if (!s) return 'closed';
      if (s.id !== first.id) return 'new';
      if (s.task !== st.task) return 'next';
      return null;
    }, 'the dialog to move on');
    if (next === 'closed') break;
    if (next === 'new') throw new Error('the oracle\'s answers failed: ' + JSON.stringify(await dialogState(page)));
  }
  const token = await until(() => page.evaluate(() => window.hcaptcha.getResponse()), 'the pass token');
  return { token, key: await page.evaluate(() => window.hcaptcha.getRespKey()), tasks, challenge: first.id };
}

const scenarios = {
  // The telemetry a visitor's browser sends: mouse, scroll, typing in the page's form
  // (the Go side checks that nothing typed is sent), focus changes, then a solve by mouse
  // and, after a reset, a long burst of moves that must be capped.
  async telemetry(page) {
    const out = { console: [] };
    watch(page, out.console);
    await page.goto(cfg.pageURL);
    await page.locator('#checkbox').waitFor();
    await page.evaluate(() => { document.body.style.minHeight = '2400px'; });
    await page.mouse.move(200, 200);
    for (let i = 0; i < 12; i++) {
      await page.mouse.move(200 + i * 23, 200 + Math.round(40 * Math.sin(i / 2)), { steps: 3 });
      await sleep(17);
    }
    await page.mouse.wheel(0, 300);
    await sleep(200);
    await page.mouse.wheel(0, -300);
    await sleep(200);
    await page.locator('input[name=name]').click();
    await page.keyboard.type(cfg.typed, { delay: 70 });
    // A password field: typing there must leave no trace in the telemetry.
    await page.evaluate(() => {
      const pw = document.createElement('input');
      pw.type = 'password';
      pw.name = 'pw';
      document.querySelector('form').appendChild(pw);
    });
    await page.locator('input[name=pw]').click();
    await page.keyboard.type(cfg.password, { delay: 60 });
    await page.evaluate(() => { window.dispatchEvent(new Event('blur')); window.dispatchEvent(new Event('focus')); });
    // Two keyboard activations of a tile (select, unselect): clicks without a pointer.
    const r = await solveByPointer(page, robot, async () => {
      await page.evaluate(() => {
        const find = (root) => root.querySelector('[role=dialog]') ||
          Array.from(root.querySelectorAll('*')).map((el) => el.shadowRoot && find(el.shadowRoot)).find(Boolean) || null;
        const tile = find(document).querySelector('button[data-tile-id]');
        if (tile) tile.focus();
      });
      await page.keyboard.press('Space');
      await page.keyboard.press('Space');
    });
    out.token = r.token;
    // A long burst: more moves than the schema allows, sent with the next challenge request.
    await page.evaluate(() => window.hcaptcha.reset());
    await page.mouse.move(10, 10);
    await page.mouse.move(cfg.burstTo[0], cfg.burstTo[1], { steps: cfg.burst });
    await page.locator('#checkbox').click();
    await until(() => dialogState(page), 'the second challenge');
    return out;
  },

  // One visitor whose pointer is driven by cfg.driver ("robot" or "human"); reports the
  // pass token and the challenge id (getRespKey) for siteverify and the risk lookup.
  async pointer(page) {
    const out = { console: [] };
    watch(page, out.console);
    await page.goto(cfg.pageURL);
    await page.mouse.move(cursor.x, cursor.y);
    const driver = cfg.driver === 'human' ? human : robot;
    Object.assign(out, await solveByPointer(page, driver));
    out.tells = await page.evaluate(() => ({ webdriver: navigator.webdriver, ua: navigator.userAgent, plugins: navigator.plugins.length }));
    if (cfg.screenshot) await page.screenshot({ path: path.join(cfg.artifacts, cfg.screenshot + '.png') });
    return out;
  },

  // A visitor whose address is refused: the widget must say so, in an alert.
  async refused(page) {
    const out = { console: [] };
    watch(page, out.console);
    await page.goto(cfg.pageURL);
    await page.locator('#checkbox').click();
    out.status = await until(() => page.evaluate(() => {
      const find = (root) => {
        const hit = root.querySelector('#status');
        if (hit) return hit;
        for (const el of root.querySelectorAll('*')) {
          if (el.shadowRoot) {
            const f = find(el.shadowRoot);
            if (f) return f;
          }
        }
        return null;
      };
      const s = find(document);
      return s && s.textContent ? { text: s.textContent, role: s.getAttribute('role') } : null;
    }), 'the refusal message');
    out.events = await page.evaluate(() => window.events || []);
    out.stored = await page.evaluate(() => ({ cookie: document.cookie, local: localStorage.length, session: sessionStorage.length }));
    return out;
  },
};

// Both pointer runs of a plain browser hide the same automation tells, so their scores
// differ by the pointer alone. No page helpers: the pages see only what a site would.
await run(scenarios, {
  pageHelpers: false,
  launchWith: cfg.plainBrowser ? { args: ['--disable-blink-features=AutomationControlled'], options: { userAgent: cfg.userAgent } } : {},
});
