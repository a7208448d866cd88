/*! crowdgate widget: hCaptcha-compatible client API (ES2018, no dependencies). */
(() => {
  'use strict';

  const W = window;
  const D = document;

  // The API base is wherever this script was loaded from, so one page can use any
  // crowdgate host (and API Gateway stage prefixes such as /prod keep working).
  const script = D.currentScript || findScript();
  const srcURL = new URL(script && script.src ? script.src : '/1/api.js', D.baseURI);
  const API = srcURL.origin + srcURL.pathname.replace(/\/1\/api\.js$/, '');
  const query = srcURL.searchParams;
  const opts = {
    onload: query.get('onload'),
    explicit: query.get('render') === 'explicit',
    hl: query.get('hl'),
    compat: query.get('recaptchacompat') !== 'off',
  };

  function findScript() {
    const all = D.getElementsByTagName('script');
    for (let i = all.length - 1; i >= 0; i--) {
      if (/\/1\/api\.js(?:[?#]|$)/.test(all[i].src)) return all[i];
    }
    return null;
  }

  // A second copy of the script (e.g. a loader after a plain tag) reuses the first.
  if (W.hcaptcha && W.hcaptcha.__crowdgate) {
    whenReady(() => callOnload());
    return;
  }

  const REQUEST_TIMEOUT_MS = 15000;

  const STRINGS = {
    en: {
      label: 'I am human', title: 'Verify you are human', step: 'Question {0} of {1}',
      image: 'Image {0} of {1}', media: 'Image for this question', yes: 'Yes', no: 'No',
      next: 'Next', submit: 'Submit', fresh: 'New challenge', close: 'Close',
      hint: 'Select every matching image, then continue. If none match, continue without selecting any.',
      pick: 'Choose an answer first.', again: 'That was not quite right. Please try this new challenge.',
      chalexpired: 'The challenge expired. Here is a new one.',
      expired: 'Verification expired. Check the box again.',
      network: 'Could not reach the verification service. Please try again.',
      config: 'This site is not set up for verification.',
      rate: 'Too many attempts. Please wait a moment and try again.',
      later: 'Too many attempts from your network. Please try again in about {0} min.',
      error: 'Something went wrong. Please try again.', unsupported: 'This challenge cannot be shown. Please ask for a new one.',
      brand: 'Protected by crowdgate',
      a11y: 'Accessibility challenge', typeit: 'Type an answer first.',
      wrong: 'That answer was wrong. Here is a new question.',
      signup: 'Text questions need a short sign-up with an email address; it lasts 24 hours in this browser.',
      join: 'Sign up for text questions (opens in a new tab)',
    },
    de: {
      label: 'Ich bin ein Mensch', title: 'Bestätigen Sie, dass Sie ein Mensch sind', step: 'Frage {0} von {1}',
      image: 'Bild {0} von {1}', media: 'Bild zu dieser Frage', yes: 'Ja', no: 'Nein',
      next: 'Weiter', submit: 'Absenden', fresh: 'Neue Aufgabe', close: 'Schließen',
      hint: 'Wählen Sie alle passenden Bilder aus und fahren Sie dann fort. Passt keines, fahren Sie ohne Auswahl fort.',
      pick: 'Bitte wählen Sie zuerst eine Antwort.', again: 'Das war nicht ganz richtig. Bitte lösen Sie diese neue Aufgabe.',
      chalexpired: 'Die Aufgabe ist abgelaufen. Hier ist eine neue.',
      expired: 'Die Bestätigung ist abgelaufen. Bitte erneut ankreuzen.',
      network: 'Der Prüfdienst ist nicht erreichbar. Bitte versuchen Sie es erneut.',
      config: 'Diese Website ist nicht für die Prüfung eingerichtet.',
      rate: 'Zu viele Versuche. Bitte warten Sie einen Moment.',
      later: 'Zu viele Versuche aus Ihrem Netzwerk. Bitte versuchen Sie es in etwa {0} Min. erneut.',
      error: 'Etwas ist schiefgelaufen. Bitte versuchen Sie es erneut.', unsupported: 'Diese Aufgabe kann nicht angezeigt werden. Bitte fordern Sie eine neue an.',
      brand: 'Geschützt durch crowdgate',
      a11y: 'Barrierefreie Aufgabe', typeit: 'Bitte geben Sie zuerst eine Antwort ein.',
      wrong: 'Die Antwort war falsch. Hier ist eine neue Frage.',
      signup: 'Textfragen erfordern eine kurze Anmeldung mit einer E-Mail-Adresse; sie gilt 24 Stunden in diesem Browser.',
      join: 'Für Textfragen anmelden (öffnet einen neuen Tab)',
    },
    fr: {
      label: 'Je suis humain', title: 'Vérifiez que vous êtes humain', step: 'Question {0} sur {1}',
      image: 'Image {0} sur {1}', media: 'Image de cette question', yes: 'Oui', no: 'Non',
      next: 'Suivant', submit: 'Envoyer', fresh: 'Nouveau défi', close: 'Fermer',
      hint: 'Sélectionnez toutes les images correspondantes, puis continuez. Si aucune ne correspond, continuez sans sélection.',
      pick: "Choisissez d'abord une réponse.", again: "Ce n'était pas tout à fait juste. Essayez ce nouveau défi.",
      chalexpired: 'Le défi a expiré. En voici un nouveau.',
      expired: 'La vérification a expiré. Cochez à nouveau la case.',
      network: 'Le service de vérification est injoignable. Veuillez réessayer.',
      config: "Ce site n'est pas configuré pour la vérification.",
      rate: 'Trop de tentatives. Patientez un instant puis réessayez.',
      later: 'Trop de tentatives depuis votre réseau. Réessayez dans environ {0} min.',
      error: "Une erreur s'est produite. Veuillez réessayer.", unsupported: 'Ce défi ne peut pas être affiché. Demandez-en un nouveau.',
      brand: 'Protégé par crowdgate',
      a11y: 'Défi accessible', typeit: "Saisissez d'abord une réponse.",
      wrong: 'Mauvaise réponse. Voici une nouvelle question.',
      signup: 'Les questions textuelles demandent une brève inscription avec une adresse e-mail ; elle vaut 24 heures dans ce navigateur.',
      join: "S'inscrire aux questions textuelles (nouvel onglet)",
    },
    es: {
      label: 'Soy humano', title: 'Verifique que es humano', step: 'Pregunta {0} de {1}',
      image: 'Imagen {0} de {1}', media: 'Imagen de esta pregunta', yes: 'Sí', no: 'No',
      next: 'Siguiente', submit: 'Enviar', fresh: 'Nuevo desafío', close: 'Cerrar',
      hint: 'Seleccione todas las imágenes que coincidan y continúe. Si ninguna coincide, continúe sin seleccionar.',
      pick: 'Elija primero una respuesta.', again: 'No era del todo correcto. Pruebe este nuevo desafío.',
      chalexpired: 'El desafío ha caducado. Aquí tiene uno nuevo.',
      expired: 'La verificación ha caducado. Marque la casilla de nuevo.',
      network: 'No se pudo contactar con el servicio de verificación. Inténtelo de nuevo.',
      config: 'Este sitio no está configurado para la verificación.',
      rate: 'Demasiados intentos. Espere un momento e inténtelo de nuevo.',
      later: 'Demasiados intentos desde su red. Vuelva a intentarlo en unos {0} min.',
      error: 'Algo salió mal. Inténtelo de nuevo.', unsupported: 'Este desafío no se puede mostrar. Pida uno nuevo.',
      brand: 'Protegido por crowdgate',
      a11y: 'Desafío accesible', typeit: 'Escriba primero una respuesta.',
      wrong: 'La respuesta no era correcta. Aquí tiene una nueva pregunta.',
      signup: 'Las preguntas de texto requieren un breve registro con una dirección de correo electrónico; vale 24 horas en este navegador.',
      join: 'Registrarse para preguntas de texto (se abre en una pestaña nueva)',
    },
  };

  // Styles live in constructable stylesheets adopted by shadow roots: CSSOM is not
  // subject to a page's style-src, so pages that forbid inline styles still work.
  // In forced colors (Windows High Contrast) the browser paints every button alike, so a
  // pressed Yes/No or tile is drawn in the system's Highlight colours instead.
  const CSS = `
:host{all:initial;display:block}
.th{--bg:#fafafa;--fg:#1f2328;--muted:#57606a;--line:#c4cbd3;--field:#fff;--accent:#0b5cad;--accent-fg:#fff;--ok:#1a7f37;--err:#b42318;--focus:#0b5cad;
font:14px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg)}
.th.dark{--bg:#1f2124;--fg:#f1f3f5;--muted:#aab2bb;--line:#4a4f55;--field:#2b2e32;--accent:#6cb2ff;--accent-fg:#0b0c0d;--ok:#57c978;--err:#ff8f85;--focus:#9ccbff}
.th.contrast{--bg:#000;--fg:#fff;--muted:#fff;--line:#fff;--field:#000;--accent:#ffe14d;--accent-fg:#000;--ok:#ffe14d;--err:#ffe14d;--focus:#ffe14d}
.box{box-sizing:border-box;display:flex;align-items:center;gap:12px;width:302px;min-height:76px;padding:10px 12px;border:1px solid var(--line);border-radius:4px;background:var(--bg)}
.box.compact{width:158px;min-height:138px;flex-direction:column;justify-content:center;text-align:center;gap:8px}
.box.error{border-color:var(--err)}
.main{flex:1;display:flex;flex-direction:column;gap:2px;min-width:0}
.lbl{cursor:pointer;font-size:15px}
.st{font-size:12px;color:var(--err)}
.st:empty{display:none}
.brand{font-size:10px;color:var(--muted);text-align:right;max-width:70px}
.compact .brand{text-align:center;max-width:none}
.cb{flex:none;box-sizing:border-box;width:28px;height:28px;border:2px solid var(--muted);border-radius:4px;background:var(--field);cursor:pointer;position:relative}
.cb:focus,button:focus{outline:3px solid var(--focus);outline-offset:2px}
.cb:focus:not(:focus-visible),button:focus:not(:focus-visible){outline:none}
.cb[aria-checked=true]{border-color:var(--ok)}
.cb[aria-checked=true]::after{content:"";position:absolute;left:7px;top:1px;width:7px;height:14px;border:solid var(--ok);border-width:0 3px 3px 0;transform:rotate(45deg)}
.cb[aria-busy=true]{border-color:var(--accent);border-right-color:transparent;border-radius:50%;animation:spin .8s linear infinite}
@keyframes spin{to{transform:rotate(360deg)}}
@media (prefers-reduced-motion:reduce){.cb[aria-busy=true]{animation-duration:3s}}
.ov{position:fixed;inset:0;z-index:2147483647;display:flex;align-items:center;justify-content:center;padding:8px;background:rgba(0,0,0,.55)}
.dlg{box-sizing:border-box;width:400px;max-width:100%;max-height:100%;overflow:auto;padding:16px;border:1px solid var(--line);border-radius:8px;background:var(--bg);box-shadow:0 8px 32px rgba(0,0,0,.35)}
.hd{display:flex;align-items:flex-start;justify-content:space-between;gap:8px}
h2{margin:0;font-size:17px;font-weight:600}
.x{flex:none;width:32px;height:32px;padding:0;border:0;border-radius:4px;background:transparent;color:var(--fg);font-size:22px;line-height:1;cursor:pointer}
.pr,.sp,.hint{margin:4px 0 0;color:var(--muted);font-size:13px}
.q{display:block;margin:12px 0 8px;font-size:16px;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(3,1fr);gap:6px}
.tile{position:relative;box-sizing:border-box;aspect-ratio:1/1;width:100%;padding:0;border:3px solid transparent;border-radius:4px;background:var(--line);cursor:pointer;overflow:hidden}
.tile img{display:block;width:100%;height:100%;object-fit:cover}
.tile[aria-pressed=true]{border-color:var(--accent)}
.tile[aria-pressed=true]::after{content:"\\2713";position:absolute;top:3px;right:3px;width:22px;height:22px;border-radius:50%;background:var(--accent);color:var(--accent-fg);font-size:15px;line-height:22px;text-align:center}
.media{display:block;width:240px;max-width:100%;height:auto;margin:0 auto;border-radius:4px}
.text{margin:0;padding:12px;border:1px solid var(--line);border-radius:4px;background:var(--field);font-size:15px}
.yn{display:flex;gap:8px;margin-top:12px}
.yn .btn{flex:1}
.btn{box-sizing:border-box;min-height:40px;padding:8px 14px;border:2px solid var(--line);border-radius:4px;background:var(--field);color:var(--fg);font:inherit;cursor:pointer}
.btn[aria-pressed=true],.pri{border-color:var(--accent);background:var(--accent);color:var(--accent-fg)}
.btn[aria-disabled=true]{opacity:.6;cursor:progress}
.err{min-height:1.35em;margin:10px 0 0;color:var(--err);font-weight:600}
.ft{display:flex;justify-content:space-between;gap:8px;margin-top:12px}
.lnk{margin:6px 0 0;padding:2px 0;border:0;background:none;color:var(--accent);font:inherit;text-decoration:underline;cursor:pointer}
.info:empty{display:none}
.info .text{margin-top:8px}
a.btn{display:inline-block;margin-top:8px;text-decoration:none}
.in{box-sizing:border-box;width:100%;min-height:40px;padding:8px;border:2px solid var(--line);border-radius:4px;background:var(--field);color:var(--fg);font:inherit}
.in:focus,a:focus{outline:3px solid var(--focus);outline-offset:2px}
@media (forced-colors:active){.btn[aria-pressed=true],.tile[aria-pressed=true],.tile[aria-pressed=true]::after{forced-color-adjust:none;border-color:Highlight;background:Highlight;color:HighlightText}}
`;

  const widgets = new Map();
  let sheet = null;

  // ---- telemetry (docs/TELEMETRY.md) ----
  // What the risk score looks at, collected on this page from the moment the script runs:
  // pointer moves, presses and releases; scroll positions; key timing (when a key went
  // down and how long it was held, never which key); focus and visibility changes;
  // summaries of device motion where the browser offers it; automation tells. It lives in
  // memory only and is sent with each challenge request, as `telemetry`.
  const T0 = now();
  const LIM = { p: 2000, s: 500, k: 500, f: 100, bytes: 32768, dt: 3600000, hold: 60000, xy: 100000 };
  const tel = { p: [], s: [], k: [], f: [], act: 0, held: [], scrolling: false,
    dm: { n: 0, a: stat(), r: stat(), moved: false }, dor: { n: 0, b: stat(), g: stat() } };

  function now() { return W.performance && typeof W.performance.now === 'function' ? W.performance.now() : Date.now(); }
  function stat() { return { n: 0, m: 0, q: 0 }; }
  // add and sd keep a running standard deviation (Welford), so no sample is kept.
  function add(st, v) { st.n++; const d = v - st.m; st.m += d / st.n; st.q += d * (v - st.m); }
  function sd(st, cap) { return Math.min(cap, st.n > 1 ? Math.round(Math.sqrt(st.q / (st.n - 1)) * 1000) / 1000 : 0); }
  function clamp(v, lo, hi) { v = Math.round(+v || 0); return v < lo ? lo : v > hi ? hi : v; }
  function keep(list, max, e) {
    if (list.length >= max) list.shift(); // the oldest go first: the last moments matter most
    list.push(e);
  }
  function mag(v) {
    if (!v) return null;
    const c = [v.x, v.y, v.z, v.alpha, v.beta, v.gamma].filter((x) => typeof x === 'number' && isFinite(x));
    return c.length ? Math.sqrt(c.reduce((s, x) => s + x * x, 0)) : null;
  }

  function collect() {
    const on = (target, type, fn, capture) => {
      try { target.addEventListener(type, fn, { capture: !!capture, passive: true }); } catch (e) { /* old engine */ }
    };
    const pointer = (type) => (e) => {
      const dev = e.pointerType === 'touch' ? 't' : e.pointerType === 'pen' ? 'p' : '';
      keep(tel.p, LIM.p, [now(), clamp(e.clientX, -LIM.xy, LIM.xy), clamp(e.clientY, -LIM.xy, LIM.xy), type, dev]);
    };
    on(D, 'pointermove', pointer('m'), true);
    on(D, 'pointerdown', pointer('d'), true);
    on(D, 'pointerup', pointer('u'), true);
    on(W, 'scroll', () => {
      if (tel.scrolling) return; // at most one entry per animation frame
      tel.scrolling = true;
      (W.requestAnimationFrame || ((f) => setTimeout(f, 16)))(() => {
        tel.scrolling = false;
        keep(tel.s, LIM.s, [now(), clamp(W.pageXOffset, -10 * LIM.xy, 10 * LIM.xy), clamp(W.pageYOffset, -10 * LIM.xy, 10 * LIM.xy)]);
      });
    });
    // Keys: only times. A keyup ends the oldest press still held (no key identity is read,
    // not even to pair them). Typing into password fields is left out: its rhythm could
    // say something about the password. So is typing into fields whose autocomplete names
    // a one-time code or a card's number, security code or expiry (the rhythm of digits
    // says something about them, the count gives the length). The field is the composed
    // path's first node: a field inside a web component reaches the document retargeted to
    // the component.
    const SECRET_AC = ['current-password', 'new-password', 'one-time-code', 'cc-number', 'cc-csc', 'cc-exp', 'cc-exp-month', 'cc-exp-year'];
    const secret = (e) => {
      const el = typeof e.composedPath === 'function' ? e.composedPath()[0] || e.target : e.target;
      if (!el) return false;
      if (el.type === 'password') return true;
      const ac = typeof el.getAttribute === 'function' ? el.getAttribute('autocomplete') : null;
      return !!ac && String(ac).toLowerCase().split(/\s+/).some((t) => SECRET_AC.indexOf(t) >= 0);
    };
    on(D, 'keydown', (e) => {
      if (e.repeat || secret(e)) return;
      const k = [now(), -1];
      keep(tel.k, LIM.k, k);
      keep(tel.held, 16, k);
    }, true);
    on(D, 'keyup', (e) => {
      if (secret(e)) return;
      const k = tel.held.shift();
      if (k) k[1] = clamp(now() - k[0], 0, LIM.hold);
    }, true);
    // Activations without a pointer on the widget's own controls: keyboard, screen readers,
    // switch access.
    on(D, 'click', (e) => { if (e.detail === 0 && fromWidget(e)) tel.act++; }, true);
    on(W, 'blur', () => keep(tel.f, LIM.f, [now(), 'b']));
    on(W, 'focus', () => keep(tel.f, LIM.f, [now(), 'f']));
    on(D, 'visibilitychange', () => keep(tel.f, LIM.f, [now(), D.visibilityState === 'hidden' ? 'h' : 'v']));
    if ('ondevicemotion' in W) {
      on(W, 'devicemotion', (e) => {
        const a = mag(e.accelerationIncludingGravity);
        const r = mag(e.rotationRate);
        if (a === null && r === null) return;
        tel.dm.n++;
        if (a !== null) add(tel.dm.a, a);
        if (r !== null) add(tel.dm.r, r);
        if (a || r) tel.dm.moved = true;
      });
    }
    if ('ondeviceorientation' in W) {
      on(W, 'deviceorientation', (e) => {
        if (typeof e.beta !== 'number' || typeof e.gamma !== 'number') return;
        tel.dor.n++;
        add(tel.dor.b, e.beta);
        add(tel.dor.g, e.gamma);
      });
    }
  }

  function fromWidget(e) {
    const path = typeof e.composedPath === 'function' ? e.composedPath() : [e.target];
    for (const w of widgets.values()) {
      if (path.indexOf(w.el) >= 0 || (w.host && path.indexOf(w.host) >= 0) || (w.dlg && path.indexOf(w.dlg.host) >= 0)) return true;
    }
    return false;
  }

  // tells are the automation checks; a key left out means "not checked".
  function tells() {
    const n = W.navigator || {};
    const ua = String(n.userAgent || '') + ' ' + String(n.appVersion || '');
    let ag = ['_phantom', 'callPhantom', '__nightmare', 'domAutomation', 'domAutomationController',
      '__selenium_unwrapped', '__webdriver_evaluate', '__pwInitScripts'].filter((k) => k in W).length;
    try {
      if (Object.keys(D).concat(Object.keys(W)).some((k) => /^\$?cdc_/.test(k))) ag++; // ChromeDriver
      if (Object.keys(W).some((k) => /^__playwright/.test(k))) ag++;
    } catch (e) { /* a page that forbids enumeration */ }
    const a = { wd: n.webdriver === true, hl: /HeadlessChrome|PhantomJS|SlimerJS/.test(ua), ag,
      chr: typeof W.chrome === 'object' && W.chrome !== null, pf: String(n.platform || '').replace(/[^\x20-\x7e]/g, '').slice(0, 64) };
    if (n.plugins && typeof n.plugins.length === 'number') a.pl = clamp(n.plugins.length, 0, 1000);
    if (n.languages && typeof n.languages.length === 'number') a.lg = clamp(n.languages.length, 0, 1000);
    if (typeof n.maxTouchPoints === 'number') a.mtp = clamp(n.maxTouchPoints, 0, 1000);
    return a;
  }

  // deltas turns absolute times into the schema's deltas: each from the previous event of
  // the list, the first from the collector's start.
  function deltas(list, rest) {
    let prev = T0;
    return list.map((e) => {
      const d = [clamp(e[0] - prev, 0, LIM.dt)].concat(rest(e));
      prev = e[0];
      return d;
    });
  }

  // telemetry is the document sent as `telemetry` with every challenge request, at most
  // LIM.bytes: when it would be larger, the oldest pointer events are left out.
  function telemetry(/* w */) {
    const doc = { v: 1, dur: clamp(now() - T0, 0, LIM.dt) };
    const keys = tel.k.filter((k) => k[1] >= 0); // presses still held are left out
    if (keys.length) doc.k = deltas(keys, (k) => [k[1]]);
    if (tel.s.length) doc.s = deltas(tel.s, (e) => [e[1], e[2]]);
    if (tel.f.length) doc.f = deltas(tel.f, (e) => [e[1]]);
    if (tel.act) doc.act = clamp(tel.act, 0, 1000000);
    if (tel.dm.n) doc.dm = { n: tel.dm.n, a_sd: sd(tel.dm.a, 1e6), r_sd: sd(tel.dm.r, 1e6), zero: !tel.dm.moved };
    if (tel.dor.n) doc.do = { n: tel.dor.n, b_sd: sd(tel.dor.b, 360), g_sd: sd(tel.dor.g, 360) };
    const s = W.screen || {};
    doc.vp = { w: clamp(W.innerWidth, 0, LIM.xy), h: clamp(W.innerHeight, 0, LIM.xy), ow: clamp(W.outerWidth, 0, LIM.xy),
      oh: clamp(W.outerHeight, 0, LIM.xy), sw: clamp(s.width, 0, LIM.xy), sh: clamp(s.height, 0, LIM.xy),
      dpr: Math.min(16, Math.max(0, Math.round((+W.devicePixelRatio || 0) * 1000) / 1000)) };
    doc.a = tells();
    let from = 0;
    for (;;) {
      const p = tel.p.slice(from);
      if (p.length) doc.p = deltas(p, (e) => (e[4] ? [e[1], e[2], e[3], e[4]] : [e[1], e[2], e[3]]));
      else delete doc.p;
      const over = JSON.stringify(doc).length - LIM.bytes;
      if (over <= 0 || !p.length) return doc;
      from += Math.ceil(over / 16) + 1; // an event is at least 16 bytes
    }
  }

  collect();

  // locale is the widget's language, chosen as crowdgate's pages choose theirs: a supported
  // hl first, then the browser's languages in its order of preference (navigator.languages,
  // what it sends as Accept-Language), then English. An unsupported hl ("it") says nothing
  // about which of ours the visitor reads, so it does not override the browser.
  function locale(hl) {
    const nav = W.navigator || {};
    const tags = [hl].concat(nav.languages && nav.languages.length ? Array.from(nav.languages) : [nav.language]);
    for (const t of tags) {
      const primary = String(t || '').toLowerCase().split(/[-_]/)[0];
      if (Object.prototype.hasOwnProperty.call(STRINGS, primary)) return primary;
    }
    return 'en';
  }

  function fmt(s, ...args) {
    return s.replace(/\{(\d)\}/g, (_, i) => String(args[+i]));
  }

  function mk(tag, cls, text) {
    const el = D.createElement(tag);
    if (cls) el.className = cls;
    if (text != null) el.textContent = text;
    return el;
  }

  // langOf marks a widget's host with the widget's language and its direction: every
  // language the widget speaks is written left to right, and without dir its texts would
  // take the page's (on a right-to-left page, "Is this positive?" shows as "?Is this
  // positive", and the checkbox moves to the right).
  function langOf(host, lang) {
    host.lang = lang;
    host.dir = 'ltr';
  }

  // markLang marks a question with its own language (the server's lang), which can differ
  // from the widget's: a job, or the text questions, lacking the widget's language ask in
  // another one, which a screen reader should read in that language's voice. An item's
  // text gets its job's item language (text_lang), a BCP 47 tag such as pt-BR. Anything
  // not shaped like a tag leaves the element in the widget's language.
  function markLang(el, lang) {
    if (typeof lang === 'string' && /^[a-z]{2,3}(-[a-z0-9]{1,8})*$/i.test(lang)) el.lang = lang;
  }

  function btn(cls, text) {
    const b = mk('button', cls, text);
    b.type = 'button';
    return b;
  }

  function shadow(host) {
    const root = host.attachShadow({ mode: 'open' });
    if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === 'function') {
      try {
        if (!sheet) {
          sheet = new CSSStyleSheet();
          sheet.replaceSync(CSS);
        }
        root.adoptedStyleSheets = [sheet];
        return root;
      } catch (e) { /* fall through */ }
    }
    // Engines without constructable stylesheets get a <style> element: it works everywhere
    // except under a strict style-src, where the widget still works, unstyled.
    root.appendChild(mk('style', null, CSS));
    return root;
  }

  function whenReady(fn) {
    if (D.readyState === 'loading') D.addEventListener('DOMContentLoaded', fn, { once: true });
    else fn();
  }

  function later(err) {
    setTimeout(() => { throw err; });
  }

  function callOnload() {
    const name = opts.onload;
    if (!name) return;
    const run = () => {
      if (typeof W[name] !== 'function') return false;
      try { W[name](); } catch (e) { later(e); }
      return true;
    };
    if (!run() && D.readyState !== 'complete') W.addEventListener('load', run, { once: true });
  }

  // fire calls a callback given as a function or as the name of a global function.
  function fire(w, name, arg) {
    const cb = w.cfg[name];
    const fn = typeof cb === 'function' ? cb : (typeof cb === 'string' && typeof W[cb] === 'function' ? W[cb] : null);
    if (!fn) return;
    try { fn(arg); } catch (e) { later(e); }
  }

  function attrs(el) {
    const out = {};
    ['sitekey', 'theme', 'size', 'tabindex', 'hl', 'callback', 'expired-callback', 'chalexpired-callback',
      'error-callback', 'open-callback', 'close-callback'].forEach((k) => {
      const v = el.getAttribute('data-' + k);
      if (v !== null && v !== '') out[k] = v;
    });
    return out;
  }

  function newID() {
    let id;
    do { id = Math.random().toString(36).slice(2, 12); } while (!id || widgets.has(id));
    return id;
  }

  function field(name, id) {
    const t = D.createElement('textarea');
    t.name = name;
    t.id = name + '-' + id;
    t.hidden = true;
    t.style.display = 'none';
    t.tabIndex = -1;
    t.setAttribute('aria-hidden', 'true');
    return t;
  }

  function render(container, params) {
    const el = typeof container === 'string' ? D.getElementById(container) : container;
    if (!el || el.nodeType !== 1) throw new Error('[hCaptcha] render: no container element');
    if (el.hasAttribute('data-hcaptcha-widget-id')) throw new Error('[hCaptcha] Only one captcha is permitted per parent container.');
    const cfg = Object.assign(attrs(el), params || {});
    if (!cfg.sitekey) throw new Error('[hCaptcha] Missing sitekey');
    const id = newID();
    const bound = el.tagName === 'BUTTON' || el.tagName === 'INPUT';
    const w = {
      id, el, cfg, bound,
      sitekey: String(cfg.sitekey),
      lang: locale(cfg.hl || opts.hl),
      theme: ['dark', 'contrast'].indexOf(cfg.theme) >= 0 ? cfg.theme : 'light',
      size: bound ? 'invisible' : (['compact', 'invisible'].indexOf(cfg.size) >= 0 ? cfg.size : 'normal'),
      token: '', key: '', data: null, pending: [], busy: false, timer: 0, expiresAt: 0, dlg: null, fields: [], host: null, cb: null, status: null,
      gen: 0,
    };
    w.t = STRINGS[w.lang];
    w.fields.push(field('h-captcha-response', id));
    if (opts.compat) w.fields.push(field('g-recaptcha-response', id));

    if (bound) {
      // <button class="h-captcha" data-sitekey data-callback>: the button runs the
      // invisible challenge; the fields go next to it, inside the same form.
      w.onClick = (e) => { e.preventDefault(); start(w); };
      el.addEventListener('click', w.onClick);
      let after = el;
      w.fields.forEach((f) => { after.insertAdjacentElement('afterend', f); after = f; });
    } else {
      if (w.size !== 'invisible') buildCheckbox(w);
      w.fields.forEach((f) => el.appendChild(f));
    }
    el.setAttribute('data-hcaptcha-widget-id', id);
    widgets.set(id, w);
    return id;
  }

  function buildCheckbox(w) {
    const t = w.t;
    w.host = mk('div');
    langOf(w.host, w.lang);
    const root = shadow(w.host);
    const box = mk('div', 'box th ' + w.theme + ' ' + w.size);
    const cb = mk('div', 'cb');
    cb.id = 'checkbox';
    cb.setAttribute('role', 'checkbox');
    cb.setAttribute('aria-checked', 'false');
    cb.setAttribute('aria-labelledby', 'label');
    cb.setAttribute('aria-describedby', 'status');
    const ti = parseInt(w.cfg.tabindex, 10);
    cb.tabIndex = isNaN(ti) ? 0 : ti;
    const main = mk('div', 'main');
    const label = mk('span', 'lbl', t.label);
    label.id = 'label';
    const status = mk('span', 'st');
    status.id = 'status';
    status.setAttribute('aria-live', 'polite');
    main.append(label, status);
    box.append(cb, main, mk('div', 'brand', t.brand));
    root.appendChild(box);
    cb.addEventListener('click', () => start(w));
    label.addEventListener('click', () => { cb.focus(); start(w); });
    cb.addEventListener('keydown', (e) => {
      if (e.key === ' ' || e.key === 'Enter' || e.key === 'Spacebar') {
        e.preventDefault();
        start(w);
      }
    });
    w.box = box;
    w.cb = cb;
    w.status = status;
    w.el.appendChild(w.host);
  }

  function setStatus(w, msg, isError, alert) {
    if (!w.status) return;
    if (alert) w.status.setAttribute('role', 'alert');
    else w.status.removeAttribute('role');
    w.status.textContent = msg || '';
    w.box.classList.toggle('error', !!isError);
  }

  function setBusy(w, busy) {
    w.busy = busy;
    if (w.cb) {
      if (busy) w.cb.setAttribute('aria-busy', 'true');
      else w.cb.removeAttribute('aria-busy');
    }
  }

  // api posts JSON to the challenge API. Failures reject with {status, code}: status 0
  // means the network (or the timeout) failed. Only a11yAPI sets cred: every other request
  // is anonymous, so the page's visitors carry no crowdgate cookie into challenges.
  // No Referer leaves the page's origin, whatever the page's Referrer-Policy: the body
  // names the page's hostname, and its path and query (a search, an order, a reset link)
  // are none of crowdgate's business. (same-origin, not no-referrer: the Origin header the
  // host check reads stays intact on every browser.)
  async function api(path, body, cred) {
    const ctl = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = ctl ? setTimeout(() => ctl.abort(), REQUEST_TIMEOUT_MS) : 0;
    let res;
    let data = null;
    try {
      res = await fetch(API + path, {
        method: 'POST', mode: 'cors', credentials: cred ? 'include' : 'omit', cache: 'no-store', referrerPolicy: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        signal: ctl ? ctl.signal : undefined,
      });
      // The timeout covers the body too: a reply that stalls after its headers is aborted.
      try { data = await res.json(); } catch (e) {
        if (ctl && ctl.signal.aborted) throw e;
        /* not JSON */
      }
    } catch (e) {
      throw { status: 0, code: '' };
    } finally {
      clearTimeout(timer);
    }
    if (res.ok && data) return data;
    const err = (data && data.error) || {};
    throw { status: res.status, code: err.code || '', retryAfter: +err.retry_after || 0, signup: err.signup_url };
  }

  // classify maps a failed request to hCaptcha's error-callback code and a message.
  function classify(e) {
    const code = e && e.code;
    if (code === 'challenge_expired') return ['challenge-expired', 'chalexpired', true];
    if (code === 'challenge_used' || code === 'challenge_not_found') return ['challenge-error', 'error', true];
    if (code === 'unknown_sitekey' || code === 'hostname_not_allowed' || code === 'sitekey_mismatch') return ['invalid-data', 'config'];
    if (code === 'try_later') return ['rate-limited', 'later'];
    if (!e || e.status === 0) return ['network-error', 'network'];
    if (e.status === 429) return ['rate-limited', 'rate'];
    if (e.status >= 500) return ['internal-error', 'error'];
    return ['invalid-data', 'error'];
  }

  function newChallenge(w) {
    return api('/1/challenges', { sitekey: w.sitekey, host: W.location.hostname, hl: w.lang, telemetry: telemetry(w) });
  }

  // start is what a checkbox click, a bound button and execute() do.
  // A reset (or remove) while its request is in flight makes the answer stale: gen tells.
  async function start(w) {
    stale(w);
    if (w.token) { settle(w); return; }
    if (w.busy || w.dlg) return;
    const gen = w.gen;
    setBusy(w, true);
    setStatus(w, '');
    try {
      const res = await newChallenge(w);
      if (w.gen === gen) handle(w, res);
    } catch (e) {
      if (w.gen === gen) fail(w, e);
    } finally {
      if (w.gen === gen) setBusy(w, false);
    }
  }

  function handle(w, res, note) {
    if (!widgets.has(w.id)) return;
    if (res.pass && res.token) solved(w, res);
    else if (res.challenge && Array.isArray(res.challenge.tasks)) openDialog(w, res.challenge, note);
    else fail(w, { status: 500, code: '' });
  }

  function fail(w, e) {
    const c = classify(e);
    // A refusal says when to come back; it is announced at once (role=alert).
    const later = c[1] === 'later';
    const msg = later ? fmt(w.t.later, Math.max(1, Math.ceil((e.retryAfter || 60) / 60))) : w.t[c[1]];
    if (w.dlg) {
      showError(w, msg);
      // hCaptcha's error-callback means "an error, and it cannot continue" (its clients
      // reset the widget there), and the promise rejects with it. So what the visitor can
      // retry from the dialog (network, server, a moment's throttling) is shown there only,
      // and the pass or the close settles the promise. A refusal for minutes (try_later)
      // or a site not set up for this page ends the attempt: nothing in the dialog leads
      // to a pass now, so the page hears the code at once, not a challenge-closed whenever
      // the visitor closes the dialog.
      if (!later && c[1] !== 'config') return;
      endDialog(w);
      rejectAll(w, c[0]);
    } else {
      setStatus(w, msg, true, later);
      rejectAll(w, c[0]);
    }
    // error-callback runs last: a page that resets the widget there (react-hcaptcha does)
    // would otherwise turn the promise's code into reset's challenge-closed.
    fire(w, 'error-callback', c[0]);
  }

  // endDialog leaves Close the only control after an error that ended the attempt: a
  // retry from the dialog could not pass now, and each would call error-callback again.
  // The challenge's timer stops too, so nothing replaces the challenge behind the message.
  function endDialog(w) {
    const d = w.dlg;
    d.ended = true;
    d.lapsed = false;
    clearTimeout(d.timer);
    d.dlg.querySelectorAll('button,input').forEach((el) => { if (el !== d.close) el.disabled = true; });
    d.close.focus();
  }

  function rejectAll(w, code) {
    const p = w.pending;
    w.pending = [];
    p.forEach((x) => x.reject(code));
  }

  function settle(w) {
    const p = w.pending;
    w.pending = [];
    p.forEach((x) => x.resolve({ response: w.token, key: w.key }));
  }

  function solved(w, res) {
    const back = closeDialog(w, false);
    w.token = String(res.token);
    w.key = String(res.key || w.lastChallenge || '');
    w.fields.forEach((f) => { f.value = w.token; });
    if (w.cb) w.cb.setAttribute('aria-checked', 'true');
    setStatus(w, '');
    clearTimeout(w.timer);
    const secs = +res.expires_in > 0 ? +res.expires_in : 120;
    w.timer = setTimeout(() => expire(w), secs * 1000);
    w.expiresAt = Date.now() + secs * 1000;
    if (back && back.focus) back.focus();
    fire(w, 'callback', w.token);
    settle(w);
  }

  function clearToken(w) {
    clearTimeout(w.timer);
    w.expiresAt = 0;
    w.token = '';
    w.key = '';
    w.fields.forEach((f) => { f.value = ''; });
    if (w.cb) w.cb.setAttribute('aria-checked', 'false');
  }

  // stale expires a token whose time is up by the wall clock. A timer alone misses that:
  // timers stand still while a device sleeps or a mobile browser freezes a page in the
  // background, so on return the form would still carry (and send) a dead token. So the
  // clock is also read when the page comes back, when a form is submitted, and when the
  // page asks for the response.
  function stale(w) {
    if (w.token && w.expiresAt && Date.now() >= w.expiresAt) expire(w);
  }

  function staleAll() {
    widgets.forEach(stale);
  }

  function expire(w) {
    clearToken(w);
    setStatus(w, w.t.expired, true);
    fire(w, 'expired-callback');
  }

  // ---- the challenge dialog ----

  function openDialog(w, ch, note) {
    if (!w.dlg) buildDialog(w);
    showChallenge(w, ch, note);
  }

  function buildDialog(w) {
    const t = w.t;
    const host = mk('div');
    langOf(host, w.lang);
    const root = shadow(host);
    const ov = mk('div', 'ov th ' + w.theme);
    const dlg = mk('div', 'dlg');
    dlg.setAttribute('role', 'dialog');
    dlg.setAttribute('aria-modal', 'true');
    dlg.setAttribute('aria-labelledby', 'title');
    dlg.setAttribute('aria-describedby', 'prompt');
    const hd = mk('div', 'hd');
    const title = mk('h2', null, t.title);
    title.id = 'title';
    const x = btn('x', '\u00d7');
    x.setAttribute('aria-label', t.close);
    hd.append(title, x);
    const prompt = mk('p', 'pr');
    prompt.id = 'prompt';
    // Early in the tab order (right after Close), so keyboard and screen-reader users
    // reach it before the image grid.
    const alt = btn('lnk', t.a11y);
    alt.id = 'accessibility';
    const info = mk('div', 'info');
    const step = mk('p', 'sp');
    const body = mk('div', 'body');
    const err = mk('p', 'err');
    err.setAttribute('role', 'alert');
    const ft = mk('div', 'ft');
    const fresh = btn('btn', t.fresh);
    fresh.id = 'new-challenge';
    const primary = btn('btn pri', t.next);
    primary.id = 'submit';
    ft.append(fresh, primary);
    dlg.append(hd, prompt, alt, info, step, body, err, ft);
    ov.appendChild(dlg);
    root.appendChild(ov);

    const d = w.dlg = { host, root, dlg, prompt, alt, info, step, body, err, fresh, primary, close: x, input: null, ch: null, i: 0, answers: {},
      busy: false, timer: 0, ended: false, lapsed: false };
    d.expire = () => { if (w.dlg === d) chalExpired(w); };
    d.returnTo = D.activeElement;
    x.addEventListener('click', () => closeDialog(w, true));
    fresh.addEventListener('click', () => refresh(w, ''));
    alt.addEventListener('click', () => textChallenge(w, ''));
    primary.addEventListener('click', () => advance(w));
    // Keys are heard on the document, not only in the dialog: a click on the backdrop or on
    // text leaves focus on the page's body, and Escape and Tab must still work. Only the
    // dialog opened last answers them.
    d.onKey = (e) => { if (openDialogs[openDialogs.length - 1] === w) onDialogKey(w, e); };
    D.addEventListener('keydown', d.onKey);
    openDialogs.push(w);
    // Keep focus inside the modal: anything that lands outside is pulled back, except into
    // another widget's dialog (two traps pulling at each other would recurse without end).
    d.onFocus = (e) => { if (!isDialogHost(e.target)) focusFirst(w); };
    D.addEventListener('focusin', d.onFocus);
    D.body.appendChild(host);
    fire(w, 'open-callback');
  }

  // openDialogs holds the widgets whose dialog is open, the one opened last at the end.
  const openDialogs = [];

  function isDialogHost(el) {
    for (const x of widgets.values()) if (x.dlg && x.dlg.host === el) return true;
    return false;
  }

  function focusables(w) {
    return Array.prototype.filter.call(w.dlg.dlg.querySelectorAll('button,input,a[href],[tabindex]'),
      (el) => !el.disabled && el.tabIndex >= 0 && el.getClientRects().length > 0);
  }

  function focusFirst(w) {
    const d = w.dlg;
    if (d.ended) { d.close.focus(); return; }
    const first = d.body.querySelector('input,button') || d.primary;
    first.focus();
  }

  function onDialogKey(w, e) {
    if (e.key === 'Escape' || e.key === 'Esc') {
      e.preventDefault();
      closeDialog(w, true);
      return;
    }
    if (e.key !== 'Tab') return;
    const list = focusables(w);
    if (!list.length) return;
    const active = w.dlg.root.activeElement;
    const first = list[0];
    const last = list[list.length - 1];
    if (e.shiftKey && (active === first || list.indexOf(active) < 0)) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (active === last || list.indexOf(active) < 0)) {
      e.preventDefault();
      first.focus();
    }
  }

  // closeDialog removes the dialog and returns where focus should go back to (the
  // checkbox, or what had focus before an invisible challenge opened).
  function closeDialog(w, byUser) {
    const d = w.dlg;
    if (!d) return null;
    w.dlg = null;
    clearTimeout(d.timer);
    D.removeEventListener('focusin', d.onFocus);
    D.removeEventListener('keydown', d.onKey);
    const at = openDialogs.indexOf(w);
    if (at >= 0) openDialogs.splice(at, 1);
    d.host.remove();
    const back = w.cb || (d.returnTo && d.returnTo.isConnected ? d.returnTo : null);
    if (!byUser) return back;
    refocus(back);
    fire(w, 'close-callback');
    rejectAll(w, 'challenge-closed');
    return back;
  }

  // refocus gives focus back after a dialog closed: to a dialog still open underneath
  // (another widget's), else to back, not to the page's body.
  function refocus(back) {
    const under = openDialogs[openDialogs.length - 1];
    if (under) focusFirst(under);
    else if (back && back.focus) back.focus();
  }

  function showError(w, msg) {
    if (w.dlg) w.dlg.err.textContent = msg || '';
  }

  function showChallenge(w, ch, note) {
    const d = w.dlg;
    d.ch = ch;
    d.i = 0;
    d.answers = {};
    d.input = null;
    d.alt.hidden = false;
    w.lastChallenge = ch.id || '';
    d.dlg.setAttribute('data-challenge-id', ch.id || '');
    d.prompt.textContent = ch.prompt || '';
    showError(w, note);
    clearTimeout(d.timer);
    d.lapsed = false;
    if (+ch.expires_in > 0) d.timer = setTimeout(d.expire, ch.expires_in * 1000);
    showTask(w);
    focusFirst(w);
  }

  function showTask(w) {
    const d = w.dlg;
    const t = w.t;
    const tasks = d.ch.tasks;
    const task = tasks[d.i] || {};
    d.step.textContent = fmt(t.step, d.i + 1, tasks.length);
    d.primary.textContent = d.i === tasks.length - 1 ? t.submit : t.next;
    const body = mk('div', 'task');
    body.setAttribute('data-task-id', task.id || '');
    const q = mk('p', 'q', task.question || '');
    q.id = 'question';
    markLang(q, task.lang);
    body.appendChild(q);
    if (task.kind === 'image_grid' && Array.isArray(task.tiles)) {
      const picked = d.answers[task.id] || (d.answers[task.id] = { task: task.id, selected: [] });
      const grid = mk('div', 'grid');
      grid.setAttribute('role', 'group');
      grid.setAttribute('aria-labelledby', 'question');
      task.tiles.forEach((tile, k) => {
        const b = btn('tile');
        b.setAttribute('aria-pressed', String(picked.selected.indexOf(tile.id) >= 0));
        b.setAttribute('data-tile-id', tile.id);
        const img = mk('img');
        img.alt = fmt(t.image, k + 1, task.tiles.length);
        img.draggable = false;
        img.referrerPolicy = 'no-referrer';
        img.src = tile.image_url;
        b.appendChild(img);
        b.addEventListener('click', () => {
          const at = picked.selected.indexOf(tile.id);
          if (at >= 0) picked.selected.splice(at, 1);
          else picked.selected.push(tile.id);
          b.setAttribute('aria-pressed', String(at < 0));
        });
        grid.appendChild(b);
      });
      body.append(grid, mk('p', 'hint', t.hint));
    } else if (task.kind === 'yes_no') {
      if (task.image_url) {
        const img = mk('img', 'media');
        img.alt = t.media;
        img.referrerPolicy = 'no-referrer';
        img.src = task.image_url;
        body.appendChild(img);
      }
      if (task.text) {
        const text = body.appendChild(mk('blockquote', 'text', task.text));
        // Customer data in any script: the browser takes its direction from its first
        // strong letter, so an Arabic or Hebrew review reads right to left in any widget.
        text.setAttribute('dir', 'auto');
        markLang(text, task.text_lang);
      }
      const row = mk('div', 'yn');
      row.setAttribute('role', 'group');
      row.setAttribute('aria-labelledby', 'question');
      const chosen = d.answers[task.id];
      [['yes', t.yes], ['no', t.no]].forEach((c) => {
        const b = btn('btn', c[1]);
        b.setAttribute('data-choice', c[0]);
        b.setAttribute('aria-pressed', String(!!chosen && chosen.choice === c[0]));
        b.addEventListener('click', () => {
          d.answers[task.id] = { task: task.id, choice: c[0] };
          row.querySelectorAll('button').forEach((o) => o.setAttribute('aria-pressed', String(o === b)));
          showError(w, '');
        });
        row.appendChild(b);
      });
      body.appendChild(row);
    } else {
      body.appendChild(mk('p', 'text', t.unsupported));
    }
    d.body.textContent = '';
    d.body.appendChild(body);
  }

  function setDialogBusy(d, busy) {
    d.busy = busy;
    if (!busy && d.lapsed) {
      // The challenge ran out while busy and is still shown: expire it once the reply's
      // handling has finished.
      d.lapsed = false;
      clearTimeout(d.timer);
      d.timer = setTimeout(d.expire, 0);
    }
    [d.primary, d.fresh].forEach((b) => {
      if (busy) b.setAttribute('aria-disabled', 'true');
      else b.removeAttribute('aria-disabled');
    });
    if (busy) d.dlg.setAttribute('aria-busy', 'true');
    else d.dlg.removeAttribute('aria-busy');
  }

  function advance(w) {
    const d = w.dlg;
    if (!d || d.busy || d.ended) return;
    if (d.ch.text) { submitText(w); return; }
    const task = d.ch.tasks[d.i] || {};
    if (task.kind !== 'image_grid' && task.kind !== 'yes_no') { showError(w, w.t.unsupported); return; }
    if (task.kind === 'yes_no' && !d.answers[task.id]) {
      showError(w, w.t.pick);
      focusFirst(w);
      return;
    }
    showError(w, '');
    if (d.i < d.ch.tasks.length - 1) {
      d.i++;
      showTask(w);
      focusFirst(w);
      return;
    }
    submit(w);
  }

  async function submit(w) {
    const d = w.dlg;
    const ch = d.ch;
    const answers = ch.tasks.map((task) => d.answers[task.id]);
    setDialogBusy(d, true);
    try {
      const res = await api('/1/challenges/' + encodeURIComponent(ch.id) + '/answers', { sitekey: w.sitekey, answers, telemetry: telemetry(w) });
      if (w.dlg !== d) return;
      handle(w, res, w.t.again);
    } catch (e) {
      if (w.dlg !== d) return;
      const c = classify(e);
      if (c[2]) {
        // A challenge gone (expired, used, swept) is replaced in the dialog: no
        // error-callback, which would tell the page the attempt ended.
        d.lapsed = false; // this reply is the challenge's end: the timer adds nothing
        if (c[0] === 'challenge-expired') fire(w, 'chalexpired-callback');
        // Awaited, so the dialog stays busy until the fresh challenge is shown.
        await refresh(w, w.t[c[1]], true);
        return;
      }
      fail(w, e);
    } finally {
      setDialogBusy(d, false);
    }
  }

  // refresh replaces the open challenge with a new one.
  async function refresh(w, note, force) {
    const d = w.dlg;
    if (d && d.ch && d.ch.text) return textChallenge(w, note, force);
    if (!d || d.ended || (d.busy && !force)) return;
    setDialogBusy(d, true);
    try {
      const res = await newChallenge(w);
      if (w.dlg !== d) return;
      handle(w, res, note);
    } catch (e) {
      if (w.dlg === d) fail(w, e);
    } finally {
      setDialogBusy(d, false);
    }
  }

  // chalExpired runs when the shown challenge's time is up. With answers or a new challenge
  // on the way, their reply decides: a pass stands, a challenge_expired reply replaces the
  // challenge (and is the one chalexpired-callback), a new challenge takes its place. Only
  // when the reply leaves the dead challenge shown does this run again (setDialogBusy).
  function chalExpired(w) {
    const d = w.dlg;
    if (!d || d.ended) return;
    if (d.busy) { d.lapsed = true; return; }
    d.lapsed = false;
    fire(w, 'chalexpired-callback');
    refresh(w, w.t.chalexpired, true);
  }

  // ---- the text challenge (accessibility) ----
  // For people who cannot solve the images: a text question, open to browsers holding
  // crowdgate's first-party accessibility cookie (cg_a11y, from the sign-up pages). These
  // two routes are the only requests sent with credentials.

  function a11yAPI(path, body) {
    return api('/1/accessibility/challenges' + path, body, true);
  }

  async function textChallenge(w, note, force) {
    const d = w.dlg;
    if (!d || d.ended || (d.busy && !force)) return;
    setDialogBusy(d, true);
    try {
      const res = await a11yAPI('', { sitekey: w.sitekey, host: W.location.hostname, hl: w.lang });
      if (w.dlg !== d) return;
      if (!res.id || !res.question) throw { status: 500, code: '' };
      showText(w, res, note);
    } catch (e) {
      if (w.dlg !== d) return;
      if (e.code === 'accessibility_token_required') showSignup(w, e.signup);
      else fail(w, e);
    } finally {
      setDialogBusy(d, false);
    }
  }

  // showText replaces the image tasks by the question. The question labels the input, and
  // focus moves there, so a screen reader reads it out (a new question too: it comes with
  // a new input).
  function showText(w, ch, note) {
    const d = w.dlg;
    d.ch = { id: String(ch.id), text: true };
    // w.lastChallenge stays the visual challenge set aside: as the response key, the text
    // challenge's a_ id would tell the site that this visitor uses the accessibility path.
    d.dlg.setAttribute('data-challenge-id', d.ch.id);
    d.prompt.textContent = '';
    d.step.textContent = '';
    d.info.textContent = '';
    d.alt.hidden = true;
    d.primary.textContent = w.t.submit;
    clearTimeout(d.timer);
    d.lapsed = false;
    if (+ch.expires_in > 0) d.timer = setTimeout(d.expire, ch.expires_in * 1000);
    const body = mk('div', 'task');
    body.setAttribute('data-task-id', 'text');
    const q = mk('label', 'q', String(ch.question));
    q.id = 'question';
    markLang(q, ch.lang);
    q.htmlFor = 'answer';
    const input = d.input = mk('input', 'in');
    input.id = 'answer';
    input.type = 'text';
    input.autocomplete = 'off';
    input.spellcheck = false;
    input.maxLength = 100; // the server refuses longer answers (MaxAnswerRunes)
    input.setAttribute('autocapitalize', 'off');
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        advance(w);
      }
    });
    body.append(q, input);
    d.body.textContent = '';
    d.body.appendChild(body);
    showError(w, note);
    input.focus();
  }

  // showSignup explains the sign-up and links to it; the image challenge stays usable.
  function showSignup(w, href) {
    const d = w.dlg;
    let u = null;
    try { u = new URL(href, API); } catch (e) { /* not a URL */ }
    // Only a web link: the address comes from the network, never a javascript: URL.
    if (!u || !/^https?:$/.test(u.protocol)) u = new URL(API + '/accessibility');
    // The page opens in the widget's language (its hl), not only the browser's: a widget
    // set to German in an English browser leads to the German page. The page takes an hl
    // it has no texts in as no choice and follows Accept-Language.
    u.searchParams.set('hl', w.lang);
    const p = mk('p', 'text', w.t.signup);
    p.id = 'signup-info';
    const a = mk('a', 'btn pri', w.t.join);
    a.id = 'signup';
    a.href = u.href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer'; // the page's URL is not the sign-up page's business
    a.setAttribute('aria-describedby', p.id);
    d.info.textContent = '';
    d.info.append(p, a);
    showError(w, '');
    a.focus();
  }

  async function submitText(w) {
    const d = w.dlg;
    const answer = d.input ? d.input.value.trim() : '';
    if (!answer) {
      showError(w, w.t.typeit);
      if (d.input) d.input.focus();
      return;
    }
    setDialogBusy(d, true);
    try {
      // set_aside names the visual challenge this question stands in for: a pass ends it as
      // a visual pass would, so the response key (that challenge) looks like any other pass.
      const body = { answer };
      if (/^c_[0-9a-f]{32}$/.test(w.lastChallenge || '')) body.set_aside = w.lastChallenge;
      const res = await a11yAPI('/' + encodeURIComponent(d.ch.id) + '/answers', body);
      if (w.dlg !== d) return;
      // A wrong answer uses the question up: the next one comes with the message.
      if (res.pass && res.token) solved(w, res);
      else await textChallenge(w, w.t.wrong, true);
    } catch (e) {
      if (w.dlg !== d) return;
      const c = classify(e);
      if (c[2]) {
        d.lapsed = false;
        if (c[0] === 'challenge-expired') fire(w, 'chalexpired-callback');
        await textChallenge(w, w.t[c[1]], true);
      } else if (e.code === 'accessibility_token_required') {
        showSignup(w, e.signup);
      } else {
        fail(w, e);
      }
    } finally {
      if (w.dlg === d) setDialogBusy(d, false);
    }
  }

  // ---- public API ----

  function get(id) {
    if (id === undefined || id === null || id === '') return widgets.values().next().value || null;
    return widgets.get(String(id)) || null;
  }

  function execute(a, b) {
    let id = a;
    let o = b;
    if (a && typeof a === 'object') { o = a; id = undefined; }
    const isAsync = !!(o && o.async);
    const w = get(id);
    if (!w) {
      const code = id == null ? 'missing-captcha' : 'invalid-captcha-id';
      if (isAsync) return Promise.reject(code);
      throw new Error('[hCaptcha] ' + code);
    }
    let p;
    if (isAsync) p = new Promise((resolve, reject) => w.pending.push({ resolve, reject }));
    start(w);
    return p;
  }

  function reset(id) {
    const w = get(id);
    if (!w) return;
    w.gen++;
    setBusy(w, false);
    // Focus was trapped in an open dialog: it goes back as on a close, not to the body.
    const open = !!w.dlg;
    const back = closeDialog(w, false);
    if (open) refocus(back);
    rejectAll(w, 'challenge-closed');
    clearToken(w);
    setStatus(w, '');
  }

  function remove(id) {
    const w = get(id);
    if (!w) return;
    const d = w.dlg;
    reset(w.id);
    if (w.onClick) w.el.removeEventListener('click', w.onClick);
    if (w.host) w.host.remove();
    w.fields.forEach((f) => f.remove());
    w.el.removeAttribute('data-hcaptcha-widget-id');
    widgets.delete(w.id);
    // Focus was in the dialog, and reset gave it to the checkbox, which is gone now: it
    // goes to what had it before the dialog opened, else the widget's container, never to
    // the page's body (a keyboard user would start over at the top of the page).
    if (d) refocus(d.returnTo && d.returnTo !== D.body && d.returnTo.isConnected ? d.returnTo : focusable(w.el));
  }

  // focusable makes a container that is not focusable focusable by script only
  // (tabindex=-1 keeps it out of the tab order).
  function focusable(el) {
    if (!el.isConnected) return null;
    if (el.tabIndex < 0 && !el.hasAttribute('tabindex')) el.setAttribute('tabindex', '-1');
    return el;
  }

  function getResponse(id) {
    const w = get(id);
    if (w) stale(w);
    return w ? w.token : '';
  }

  function getRespKey(id) {
    const w = get(id);
    if (w) stale(w);
    return w ? w.key : '';
  }

  function close(id) {
    const w = get(id);
    if (w) closeDialog(w, true);
  }

  // setData keeps integrator data (hCaptcha's rqdata) with the widget. The challenge API
  // has no field for it yet, so it is not sent.
  function setData(a, b) {
    const w = typeof a === 'object' && a !== null ? get() : get(a);
    if (w) w.data = typeof a === 'object' && a !== null ? a : b;
  }

  // A submit listener runs before the browser collects the form's fields, so a dead
  // token is cleared before it would be sent.
  D.addEventListener('visibilitychange', staleAll);
  D.addEventListener('submit', staleAll, true);
  W.addEventListener('pageshow', staleAll);
  W.addEventListener('focus', staleAll);

  const hcaptcha = { render, execute, reset, remove, getResponse, getRespKey, close, setData };
  Object.defineProperty(hcaptcha, '__crowdgate', { value: true });
  W.hcaptcha = hcaptcha;
  if (opts.compat && !W.grecaptcha) W.grecaptcha = hcaptcha;

  whenReady(() => {
    if (!opts.explicit) {
      D.querySelectorAll('.h-captcha[data-sitekey]').forEach((el) => {
        if (el.hasAttribute('data-hcaptcha-widget-id')) return;
        try { render(el); } catch (e) { later(e); }
      });
    }
    callOnload();
  });
})();
