// Browser scenarios of the accessibility tests. Usage: CG_E2E='{json config}' node accessibility.mjs NAME
// Like scenarios.mjs: headless Chromium through playwright-core, bounded waits, one JSON
// line of observations on stdout; the Go test makes the assertions.
//
// The visitor here cannot solve images: they sign up on crowdgate's accessibility pages
// (or, against the fake API, just confirm), then answer the widget's text question with the
// keyboard. The question is solved by the Go test (cfg.solverURL?q=…), as a person would.
import path from 'node:path';
import { cfg, WAIT_MS, log, sleep, until, watch, deepActive, tabTo, run } from './harness.mjs';

async function dialogState(page) {
  return page.evaluate(() => {
    const d = window.__deep('[role=dialog]');
    if (!d) return null;
    const task = d.querySelector('[data-task-id]');
    const alert = d.querySelector('[role=alert]');
    const q = d.querySelector('#question');
    const input = d.querySelector('#answer');
    const alt = d.querySelector('#accessibility');
    const link = d.querySelector('#signup');
    const info = d.querySelector('#signup-info');
    return {
      id: d.getAttribute('data-challenge-id'), task: task ? task.getAttribute('data-task-id') : null,
      busy: d.getAttribute('aria-busy') === 'true',
      error: alert ? alert.textContent : '', question: q ? q.textContent : '',
      input: input ? { labelledBy: input.labels && input.labels.length ? input.labels[0].textContent : '', type: input.type, maxLength: input.maxLength } : null,
      alt: alt ? { text: alt.textContent, hidden: alt.hidden, tag: alt.tagName.toLowerCase() } : null,
      link: link ? { href: link.href, target: link.target, rel: link.rel, text: link.textContent, describedBy: link.getAttribute('aria-describedby') } : null,
      info: info ? info.textContent : '',
      tiles: d.querySelectorAll('button[data-tile-id]').length,
    };
  });
}

async function widgetState(page) {
  return page.evaluate(() => {
    const cb = window.__deep('#checkbox');
    const root = cb && cb.getRootNode();
    const status = root && root.getElementById('status');
    return {
      checked: cb ? cb.getAttribute('aria-checked') : null,
      status: status ? status.textContent : null,
      fields: Array.from(document.querySelectorAll('textarea[name$="captcha-response"]')).map((t) => ({ name: t.name, value: t.value })),
      events: window.events || [],
      response: window.hcaptcha ? window.hcaptcha.getResponse() : '',
      respKey: window.hcaptcha ? window.hcaptcha.getRespKey() : '',
      pageStatus: (document.getElementById('captcha-status') || {}).textContent || '',
    };
  });
}

async function solve(question) {
  const res = await fetch(cfg.solverURL + '?q=' + encodeURIComponent(question));
  if (!res.ok) throw new Error('the solver answered ' + res.status + ' for ' + JSON.stringify(question) + ': ' + (await res.text()));
  return (await res.json()).answer;
}

async function shot(page, name) {
  if (!cfg.artifacts) return '';
  const file = path.join(cfg.artifacts, name + '.png');
  await page.screenshot({ path: file });
  return file;
}

// openWithKeyboard ticks the checkbox with the keyboard and waits for the dialog.
async function openWithKeyboard(page) {
  await page.locator('#checkbox').waitFor();
  await tabTo(page, (a) => a.id === 'checkbox', 12);
  await page.keyboard.press('Space');
  return until(() => dialogState(page), 'the challenge dialog');
}

// chooseText reaches the "Accessibility challenge" button from the first image tile with
// Shift+Tab, presses Enter and waits for the question (or for what replaced it).
async function chooseText(page, out) {
  const before = await dialogState(page);
  out.altFocus = await tabTo(page, (a) => a.id === 'accessibility', 4, 'Shift+Tab');
  await page.keyboard.press('Enter');
  return until(async () => {
    const s = await dialogState(page);
    if (!s || s.busy) return null;
    if (s.input && s.id !== before.id) return s;
    if ((s.link && !before.link) || (s.error && s.error !== before.error)) return s;
    return null;
  }, 'the text question (or the sign-up link) after choosing the accessibility challenge');
}

// answerText types an answer into the focused input and presses Enter; it returns what the
// dialog shows next: 'passed' when it closed, else the new question's state.
async function answerText(page, answer) {
  const st = await dialogState(page);
  await page.keyboard.type(answer);
  await page.keyboard.press('Enter');
  return until(async () => {
    const s = await dialogState(page);
    if (!s) return { outcome: 'passed' };
    if (!s.busy && s.id !== st.id) return { outcome: 'new', state: s, focus: await deepActive(page) };
    return null;
  }, 'the answer to be graded');
}

// textJourney: from an open dialog, choose the text challenge, optionally answer wrong
// once, then answer right.
async function textJourney(page, out) {
  out.text = await chooseText(page, out);
  out.focusOnQuestion = await deepActive(page);
  if (!out.text.input) return false;
  if (cfg.wrongFirst) {
    const r = await answerText(page, 'certainly-not-the-answer');
    if (r.outcome !== 'new') throw new Error('a wrong answer passed');
    out.afterWrong = r.state;
    out.focusAfterWrong = r.focus;
  }
  const st = await dialogState(page);
  out.question = st.question;
  out.answer = await solve(st.question);
  out.result = await answerText(page, out.answer);
  return out.result.outcome === 'passed';
}

const scenarios = {
  // A keyboard visitor on a form page: tick, choose the text challenge, answer, submit.
  async text(page, ctx) {
    const out = { console: [] };
    watch(page, out.console);
    if (cfg.confirmURL) {
      await page.goto(cfg.confirmURL);
      await page.locator('button[type=submit]').click();
      await page.waitForLoadState();
    }
    out.cookies = (await ctx.cookies()).map((c) => ({ name: c.name, value: c.value, httpOnly: c.httpOnly, sameSite: c.sameSite, secure: c.secure }));
    await page.goto(cfg.pageURL);
    out.dialog = await openWithKeyboard(page);
    const passed = await textJourney(page, out);
    if (!passed) return out;
    out.after = await until(async () => {
      const s = await widgetState(page);
      return s.checked === 'true' ? s : null;
    }, 'the checkbox to be checked');
    out.focusAfterPass = await deepActive(page);
    if (cfg.submit) {
      await tabTo(page, (a) => a.type === 'submit' && !a.inDialog, 8);
      await page.keyboard.press('Enter');
      const result = page.locator('#verify-result');
      await result.waitFor();
      out.verifyText = await result.textContent();
    }
    return out;
  },

  // The strict-CSP page: execute({async:true}) on an invisible widget opens the dialog;
  // the text challenge settles the promise.
  async csp(page) {
    const out = { console: [] };
    watch(page, out.console);
    await page.goto(cfg.confirmURL);
    await page.locator('button[type=submit]').click();
    await page.waitForLoadState();
    await page.goto(cfg.pageURL);
    out.dialog = await until(() => dialogState(page), 'the dialog from execute()');
    await until(async () => (await deepActive(page) || {}).inDialog, 'focus in the dialog');
    await textJourney(page, out);
    out.execResult = await until(async () => (await page.locator('#out').textContent()) || null, 'execute() to settle');
    out.widget = await widgetState(page);
    out.violations = await page.evaluate(() => window.violations);
    out.screenshot = await shot(page, 'csp-text');
    return out;
  },

  // A visitor without the cookie: the sign-up explanation and link. With cfg.signUp the
  // visitor follows the link (a new tab), confirms there, comes back and asks again, and
  // then asks for new questions until the token's rate limit answers.
  async signup(page, ctx) {
    const out = { console: [] };
    watch(page, out.console);
    await page.goto(cfg.pageURL);
    out.dialog = await openWithKeyboard(page);
    out.first = await chooseText(page, out);
    out.focusOnLink = await deepActive(page);
    out.shot = await shot(page, 'signup-link');
    if (!cfg.signUp) return out;
    const [tab] = await Promise.all([ctx.waitForEvent('page'), page.keyboard.press('Enter')]);
    await tab.waitForLoadState();
    out.tabURL = tab.url();
    out.openerVisible = await tab.evaluate(() => window.opener !== null);
    await tab.locator('button[type=submit]').click();
    await tab.waitForLoadState();
    await tab.close();
    await page.bringToFront();
    out.again = await chooseText(page, out);
    out.focusOnQuestion = await deepActive(page);
    out.limited = null;
    for (let i = 0; i < (cfg.fresh || 0) && !out.limited; i++) {
      const before = await dialogState(page);
      await page.locator('[role=dialog] #new-challenge').click();
      const s = await until(async () => {
        const x = await dialogState(page);
        return x && !x.busy && (x.id !== before.id || x.error) ? x : null;
      }, 'a new question or a refusal');
      if (s.id === before.id && s.error) out.limited = s;
    }
    out.widget = await widgetState(page);
    out.shotLimited = await shot(page, 'rate-limited');
    return out;
  },

  // The real sign-up on crowdgate's pages: the form, the mailed link (read by the Go test
  // from the outbox), the Confirm button. Reports the pages' texts and the cookie.
  async enroll(page, ctx) {
    const out = { console: [] };
    watch(page, out.console);
    await page.goto(cfg.signupURL);
    out.signupPage = { lang: await page.evaluate(() => document.documentElement.lang), inline: await page.evaluate(() => document.querySelectorAll('script:not([src]),style,[style]').length) };
    const email = page.locator('input[name=email]');
    await email.fill(cfg.email);
    await email.press('Enter');
    await page.waitForLoadState();
    out.afterSignup = (await page.locator('body').innerText()).slice(0, 400);
    const res = await fetch(cfg.mailURL);
    if (!res.ok) throw new Error('no confirm link: ' + res.status + ' ' + (await res.text()));
    const { link } = await res.json();
    await page.goto(link);
    out.cookiesBeforeConfirm = (await ctx.cookies()).map((c) => c.name);
    await page.locator('button[type=submit]').first().click();
    await page.waitForLoadState();
    out.afterConfirm = (await page.locator('body').innerText()).slice(0, 600);
    out.cookies = (await ctx.cookies()).map((c) => ({ name: c.name, value: c.value, httpOnly: c.httpOnly, sameSite: c.sameSite, secure: c.secure, expires: c.expires }));
    // Then the same browser passes the demo form with a text question.
    if (cfg.pageURL) {
      await page.goto(cfg.pageURL);
      out.dialog = await openWithKeyboard(page);
      if (await textJourney(page, out)) {
        out.after = await until(async () => {
          const s = await widgetState(page);
          return s.checked === 'true' ? s : null;
        }, 'the checkbox to be checked');
        out.focusAfterPass = await deepActive(page);
        await tabTo(page, (a) => a.type === 'submit' && !a.inDialog, 8);
        await page.keyboard.press('Enter');
        const result = page.locator('#verify-result');
        await result.waitFor();
        out.verifyText = await result.textContent();
      }
    }
    return out;
  },
};

await run(scenarios);
