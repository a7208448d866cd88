// Browser scenarios for the e2e Go tests. Usage: CG_E2E='{json config}' node scenarios.mjs NAME
// Each scenario drives headless Chromium through playwright-core, waits with bounded
// timeouts and prints one JSON line of observations; the Go test makes the assertions.
import path from 'node:path';
import { cfg, WAIT_MS, log, sleep, until, watch, deepActive, tabTo, run } from './harness.mjs';

async function dialogState(page) {
  return page.evaluate(() => {
    const d = window.__deep('[role=dialog]');
    if (!d) return null;
    const root = d.getRootNode();
    const task = d.querySelector('[data-task-id]');
    const title = root.getElementById(d.getAttribute('aria-labelledby') || '');
    const alert = d.querySelector('[role=alert]');
    return {
      id: d.getAttribute('data-challenge-id'), modal: d.getAttribute('aria-modal'),
      title: title ? title.textContent : '', task: task ? task.getAttribute('data-task-id') : null,
      error: alert ? alert.textContent : '', busy: d.getAttribute('aria-busy') === 'true',
      buttons: Array.from(d.querySelectorAll('button')).map((b) => b.getAttribute('aria-label') || b.textContent),
      background: getComputedStyle(d).backgroundColor, direction: getComputedStyle(d).direction,
    };
  });
}

async function widgetState(page) {
  return page.evaluate(() => {
    const cb = window.__deep('#checkbox');
    const root = cb && cb.getRootNode();
    const label = root && root.getElementById('label');
    const status = root && root.getElementById('status');
    const box = cb && cb.parentElement;
    return {
      checked: cb ? cb.getAttribute('aria-checked') : null,
      label: label ? label.textContent : null,
      status: status ? status.textContent : null,
      boxBackground: box ? getComputedStyle(box).backgroundColor : null,
      boxDirection: box ? getComputedStyle(box).direction : null,
      labelColor: label ? getComputedStyle(label).color : null,
      cbWidth: cb ? getComputedStyle(cb).width : null,
      cbBorder: cb ? getComputedStyle(cb).borderTopStyle : null,
      fields: Array.from(document.querySelectorAll('textarea[name$="captcha-response"]')).map((t) => ({ name: t.name, value: t.value })),
      events: window.events || [],
      grecaptchaIsHcaptcha: !!window.hcaptcha && window.grecaptcha === window.hcaptcha,
      storage: { cookie: document.cookie, local: localStorage.length, session: sessionStorage.length },
    };
  });
}

// answerChallenge answers every task of the open challenge: with the gold answers, or at
// random when answers is null; by keyboard (Tab/Space/Enter only) or by mouse.
async function answerChallenge(page, answers, keyboard) {
  const start = await dialogState(page);
  const tasks = [];
  for (let step = 0; step < 10; step++) {
    const st = await dialogState(page);
    const tid = st.task;
    const task = page.locator('[role=dialog] [data-task-id="' + tid + '"]');
    const tiles = task.locator('button[data-tile-id]');
    const nTiles = await tiles.count();
    const info = { id: tid, kind: nTiles ? 'image_grid' : 'yes_no', alts: [], selected: [] };
    const want = answers && answers[tid] ? answers[tid] : null;
    if (nTiles) {
      for (let i = 0; i < nTiles; i++) {
        const tile = tiles.nth(i);
        const tileID = await tile.getAttribute('data-tile-id');
        info.alts.push(await tile.locator('img').getAttribute('alt'));
        const pick = want ? (want.selected || []).includes(tileID) : Math.random() < 0.5;
        if (keyboard) {
          // The dialog focuses the first tile; Tab walks the grid in order.
          if (i > 0) await tabTo(page, (a) => a.tile === tileID, 1);
          else {
            const a = await deepActive(page);
            if (!a || a.tile !== tileID) throw new Error('focus is not on the first tile but on ' + JSON.stringify(a));
          }
          if (pick) await page.keyboard.press('Space');
        } else if (pick) {
          await tile.click();
        }
        if (pick) info.selected.push(tileID);
        const pressed = await tile.getAttribute('aria-pressed');
        if (pressed !== String(pick)) throw new Error('tile ' + i + ' aria-pressed=' + pressed + ', want ' + pick);
      }
    } else {
      const choice = want ? want.choice || 'yes' : (Math.random() < 0.5 ? 'yes' : 'no');
      info.choice = choice;
      if (keyboard) {
        const a = await deepActive(page);
        if (!a || a.choice !== 'yes') throw new Error('focus is not on Yes but on ' + JSON.stringify(a));
        if (choice === 'no') await tabTo(page, (x) => x.choice === 'no', 1);
        await page.keyboard.press('Enter');
      } else {
        await task.locator('button[data-choice="' + choice + '"]').click();
      }
      const pressed = await task.locator('button[data-choice="' + choice + '"]').getAttribute('aria-pressed');
      if (pressed !== 'true') throw new Error('the ' + choice + ' button is not pressed');
    }
    tasks.push(info);
    if (keyboard) {
      await tabTo(page, (a) => a.id === 'submit', 6);
      await page.keyboard.press('Enter');
    } else {
      await page.locator('[role=dialog] #submit').click();
    }
    const next = await until(async () => {
      const s = await dialogState(page);
      if (!s) return 'closed';
      if (s.id !== start.id) return 'new';
      if (s.task !== tid) return 'next';
      return null;
    }, 'the dialog to move on after task ' + tid);
    if (next !== 'next') {
      const after = await dialogState(page);
      return { id: start.id, tasks, outcome: next === 'closed' ? 'passed' : 'failed', nextId: after ? after.id : null, error: after ? after.error : '' };
    }
  }
  throw new Error('challenge had more than 10 tasks');
}

async function gold(id) {
  const res = await fetch(cfg.oracleURL + '?id=' + encodeURIComponent(id));
  if (!res.ok) throw new Error('oracle answered ' + res.status + ' for ' + id + ': ' + (await res.text()));
  return (await res.json()).answers;
}

async function shot(page, name, locator) {
  const file = path.join(cfg.artifacts, name + '.png');
  if (locator) await locator.screenshot({ path: file });
  else await page.screenshot({ path: file });
  return file;
}

const scenarios = {
  // A visitor who uses only the keyboard: Tab to the checkbox, Space, solve with the
  // oracle's answers, Tab to the form's submit button, Enter; report what the backend said.
  async solve(page) {
    const out = { console: [] };
    watch(page, out.console);
    await page.goto(cfg.pageURL);
    await page.locator('#checkbox').waitFor();
    out.checkboxFocus = await tabTo(page, (a) => a.id === 'checkbox', 10);
    out.before = await widgetState(page);
    await page.keyboard.press('Space');
    out.dialog = await until(() => dialogState(page), 'the challenge dialog');
    out.focusOnOpen = await deepActive(page);
    const first = out.focusOnOpen;
    const trap = [];
    for (let i = 0; i < 16; i++) {
      await page.keyboard.press('Tab');
      trap.push(!!(await deepActive(page)).inDialog);
    }
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Shift+Tab');
      trap.push(!!(await deepActive(page)).inDialog);
    }
    out.trap = trap;
    await tabTo(page, (a) => a.tile === first.tile && a.choice === first.choice && a.id === first.id, 20);
    out.attempts = [];
    for (let attempt = 0; attempt < (cfg.maxAttempts || 3); attempt++) {
      const st = await dialogState(page);
      const answers = await gold(st.id);
      const r = await answerChallenge(page, answers, true);
      out.attempts.push(r);
      if (r.outcome === 'passed') break;
    }
    out.after = await until(async () => {
      const s = await widgetState(page);
      return s.checked === 'true' ? s : null;
    }, 'the checkbox to be checked');
    out.focusAfterPass = await deepActive(page);
    if (cfg.screenshot) out.screenshot = await shot(page, cfg.screenshot);
    if (cfg.submit) {
      await tabTo(page, (a) => a.type === 'submit', 8);
      await page.keyboard.press('Enter');
      const result = page.locator('#verify-result');
      await result.waitFor();
      out.verifyText = await result.textContent();
    }
    return out;
  },

  // A bot that clicks at random: a few challenges answered with coin flips.
  async random(page) {
    const out = { console: [] };
    watch(page, out.console);
    await page.goto(cfg.pageURL);
    await page.locator('#checkbox').click();
    await until(() => dialogState(page), 'the challenge dialog');
    out.attempts = [];
    for (let i = 0; i < (cfg.attempts || 3); i++) {
      const r = await answerChallenge(page, null, false);
      out.attempts.push(r);
      if (r.outcome !== 'failed') break;
    }
    out.widget = await widgetState(page);
    return out;
  },

  // The strict-CSP page: explicit render, execute({async:true}) on an invisible widget,
  // then a click on the visible one.
  async csp(page) {
    const out = { console: [] };
    watch(page, out.console);
    await page.goto(cfg.pageURL);
    out.result = await until(async () => (await page.locator('#out').textContent()) || null, 'execute() to settle');
    out.widget = await widgetState(page);
    await page.locator('#checkbox').click();
    out.afterClick = await until(async () => {
      const s = await widgetState(page);
      return s.checked === 'true' ? s : null;
    }, 'the visible checkbox to be checked');
    out.violations = await page.evaluate(() => window.violations);
    out.screenshot = await shot(page, 'csp');
    return out;
  },

  // Pages that load the widget through hCaptcha's official @hcaptcha/loader.
  async loader(page) {
    const out = { console: [], pages: [] };
    watch(page, out.console);
    for (const url of cfg.pageURLs) {
      await page.goto(url);
      const result = await until(async () => (await page.locator('#out').textContent()) || null, 'the loader page to settle');
      out.pages.push(await page.evaluate((r) => {
        const s = document.getElementById('hCaptcha-script');
        return { result: r, scriptSrc: s ? s.src : null, resolvedWith: window.loaderResolvedWith || null };
      }, result));
    }
    return out;
  },

  // Theme and language: read the rendered checkbox, screenshot it, optionally open the
  // dialog and screenshot that too.
  async theme(page) {
    const out = { console: [] };
    watch(page, out.console);
    if (cfg.forcedColors) await page.emulateMedia({ forcedColors: 'active' });
    await page.goto(cfg.pageURL);
    await page.locator('#checkbox').waitFor();
    out.widget = await widgetState(page);
    out.widgetShot = await shot(page, (cfg.name || 'theme') + '-widget', page.locator('.h-captcha'));
    if (cfg.openDialog) {
      await page.locator('#checkbox').click();
      out.dialog = await until(() => dialogState(page), 'the challenge dialog');
      await page.waitForFunction(() => Array.from(window.__deep('[role=dialog]').querySelectorAll('img')).every((i) => i.complete));
      await page.locator('[role=dialog] button[data-tile-id]').first().click();
      out.dialogShot = await shot(page, (cfg.name || 'theme') + '-dialog');
      // Move on (leaving grids as they are) until a yes/no question shows.
      for (let i = 0; i < 5 && !(await page.locator('[role=dialog] button[data-choice]').count()); i++) {
        const task = (await dialogState(page)).task;
        await page.locator('[role=dialog] #submit').click();
        await until(async () => ((await dialogState(page)) || {}).task !== task, 'the next task');
      }
      await page.locator('[role=dialog] button[data-choice]').first().waitFor();
      await page.waitForFunction(() => Array.from(window.__deep('[role=dialog]').querySelectorAll('img')).every((i) => i.complete));
      // How a chosen answer looks next to the other one.
      await page.locator('[role=dialog] button[data-choice="yes"]').click();
      out.choices = await page.evaluate(() => {
        const look = (b) => getComputedStyle(b).backgroundColor;
        const d = window.__deep('[role=dialog]');
        return { pressed: look(d.querySelector('[data-choice="yes"]')), unpressed: look(d.querySelector('[data-choice="no"]')) };
      });
      out.yesNoShot = await shot(page, (cfg.name || 'theme') + '-yes-no');
    }
    return out;
  },

  // Escape, close-callback, focus return, "New challenge" and execute() rejection.
  async escape(page) {
    const out = { console: [] };
    watch(page, out.console);
    await page.goto(cfg.pageURL);
    await page.locator('#checkbox').focus();
    await page.keyboard.press('Enter');
    const first = await until(() => dialogState(page), 'the challenge dialog (opened with Enter)');
    await page.locator('[role=dialog] #new-challenge').click();
    out.renewed = await until(async () => {
      const s = await dialogState(page);
      return s && s.id !== first.id ? s : null;
    }, 'a new challenge');
    out.firstId = first.id;
    await page.keyboard.press('Escape');
    await until(async () => !(await dialogState(page)), 'the dialog to close');
    out.focusAfterEscape = await deepActive(page);
    out.afterEscape = await widgetState(page);
    await page.evaluate(() => {
      window.execResult = null;
      window.hcaptcha.execute({ async: true }).then(() => { window.execResult = 'resolved'; }, (e) => { window.execResult = 'rejected:' + e; });
    });
    await until(() => dialogState(page), 'the dialog from execute()');
    await page.locator('[role=dialog] button[aria-label]').first().click();
    out.execResult = await until(() => page.evaluate(() => window.execResult), 'execute() to settle');
    await page.evaluate(() => { window.hcaptcha.execute(); });
    await until(() => dialogState(page), 'the dialog from plain execute()');
    await page.evaluate(() => { window.hcaptcha.close(); });
    await until(async () => !(await dialogState(page)), 'hcaptcha.close() to close the dialog');
    out.final = await widgetState(page);
    // The page resets the widget while its dialog is open (a form timer, a page change).
    await page.locator('#checkbox').focus();
    await page.keyboard.press('Enter');
    await until(() => dialogState(page), 'the dialog before reset()');
    await page.evaluate(() => { window.hcaptcha.reset(); });
    await until(async () => !(await dialogState(page)), 'hcaptcha.reset() to close the dialog');
    out.focusAfterReset = await deepActive(page);
    return out;
  },

  // Token expiry under a fake clock: the token is cleared after expires_in.
  async expiry(page) {
    const out = { console: [] };
    watch(page, out.console);
    await page.clock.install();
    await page.goto(cfg.pageURL);
    await page.locator('#checkbox').waitFor();
    // Page time stands still from here to the expiry: the token's timer starts at a known
    // instant, and however long the pass takes in real time it cannot eat into the
    // one-second margin below. (Passing needs no page timer.)
    await page.clock.pauseAt(await page.evaluate(() => Date.now() + 1000));
    await page.locator('#checkbox').click();
    out.before = await until(async () => {
      const s = await widgetState(page);
      return s.checked === 'true' ? s : null;
    }, 'the checkbox to be checked');
    await page.clock.runFor(cfg.expiresInMs - 1000);
    out.almost = await widgetState(page);
    await page.clock.runFor(2000);
    out.after = await widgetState(page);
    out.response = await page.evaluate(() => window.hcaptcha.getResponse());
    await page.clock.resume();
    if (cfg.challengePageURL) {
      await page.goto(cfg.challengePageURL);
      await page.locator('#checkbox').click();
      const first = await until(() => dialogState(page), 'the challenge dialog');
      await page.clock.runFor(cfg.challengeExpiresInMs + 1000);
      out.chalExpired = await until(async () => {
        const s = await dialogState(page);
        return s && s.id !== first.id ? s : null;
      }, 'a fresh challenge after the first expired');
      out.chalFirstId = first.id;
      out.chalWidget = await widgetState(page);
    }
    return out;
  },

  // The JavaScript API on an explicit-render page (and a bound invisible button).
  async api(page) {
    const out = { console: [] };
    watch(page, out.console);
    await page.goto(cfg.pageURL);
    await until(() => page.evaluate(() => window.loaded === 1), 'the onload callback');
    out.page = await page.evaluate(async (keys) => {
      const o = {};
      o.grecaptcha = typeof window.grecaptcha;
      o.autoRendered = document.querySelectorAll('[data-hcaptcha-widget-id]').length;
      const id = hcaptcha.render('slot', { sitekey: keys.test, theme: 'contrast', callback: (t) => { o.callback = t; } });
      o.idType = typeof id;
      try { hcaptcha.render('slot', { sitekey: keys.test }); o.second = 'no error'; } catch (e) { o.second = e.message; }
      try { hcaptcha.render(document.createElement('div'), {}); o.noSitekey = 'no error'; } catch (e) { o.noSitekey = e.message; }
      o.fields = Array.from(document.querySelectorAll('#slot textarea')).map((t) => t.name);
      const root = document.querySelector('#slot > div').shadowRoot;
      o.label = root.getElementById('label').textContent;
      o.contrastBackground = getComputedStyle(root.querySelector('.box')).backgroundColor;
      const compact = hcaptcha.render(document.body.appendChild(document.createElement('div')), { sitekey: keys.test, size: 'compact', tabindex: 3 });
      const croot = document.querySelector('[data-hcaptcha-widget-id="' + compact + '"] > div').shadowRoot;
      o.compact = { width: getComputedStyle(croot.querySelector('.box')).width, tabIndex: croot.getElementById('checkbox').tabIndex };
      o.tabIndex = root.getElementById('checkbox').tabIndex;
      o.res = await hcaptcha.execute(id, { async: true });
      o.getResponse = hcaptcha.getResponse(id);
      o.getRespKey = hcaptcha.getRespKey(id);
      o.checked = root.getElementById('checkbox').getAttribute('aria-checked');
      o.field = document.querySelector('#slot textarea[name="h-captcha-response"]').value;
      o.again = await hcaptcha.execute(id, { async: true });
      hcaptcha.reset(id);
      o.afterReset = { response: hcaptcha.getResponse(id), field: document.querySelector('#slot textarea[name="h-captcha-response"]').value,
        checked: root.getElementById('checkbox').getAttribute('aria-checked') };
      const bad = hcaptcha.render('bad', { sitekey: keys.unknown, 'error-callback': (e) => { o.errorCallback = e; } });
      try { await hcaptcha.execute(bad, { async: true }); o.badExecute = 'resolved'; } catch (e) { o.badExecute = String(e); }
      o.badStatus = document.querySelector('#bad > div').shadowRoot.getElementById('status').textContent;
      hcaptcha.remove(id);
      const slot = document.getElementById('slot');
      o.afterRemove = { children: slot.children.length, marked: slot.hasAttribute('data-hcaptcha-widget-id') };
      try { await hcaptcha.execute(id, { async: true }); o.removedExecute = 'resolved'; } catch (e) { o.removedExecute = String(e); }
      return o;
    }, { test: cfg.testSitekey, unknown: cfg.unknownSitekey });
    if (cfg.buttonURL) {
      await page.goto(cfg.buttonURL);
      await until(() => page.evaluate(() => window.loaded === 1), 'the onload callback');
      await page.locator('button.h-captcha').click();
      out.button = await until(() => page.evaluate(() => window.buttonToken ? {
        token: window.buttonToken,
        field: (document.querySelector('form textarea[name="h-captcha-response"]') || {}).value,
        url: location.pathname,
      } : null), 'the bound button callback');
    }
    return out;
  },
};

await run(scenarios);
