package e2e

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// pageServer is an integrator's website on its own loopback origin: it embeds the widget
// from the crowdgate host api in several ways and, for the fake API, plays the integrator
// backend that redeems tokens.
type pageServer struct {
	srv *httptest.Server
	api string
}

var formTmpl = template.Must(template.New("form").Parse(`<!doctype html>
<html lang="{{or .Lang "en"}}"{{if .Dir}} dir="{{.Dir}}"{{end}}><head><meta charset="utf-8"><title>Sign up</title>
<script>
window.events = [];
function rec(name) { return function (arg) { window.events.push(arg === undefined ? name : name + ':' + arg); }; }
window.onPass = rec('callback'); window.onExpired = rec('expired'); window.onChalExpired = rec('chalexpired');
window.onError = rec('error'); window.onOpen = rec('open'); window.onClose = rec('close');
window.loaded = 0; window.onHC = function () { window.loaded++; };
window.onButton = function (t) { window.buttonToken = t; };
</script>
<script src="{{.Script}}" async defer></script>
</head><body>
<h1>Sign up</h1>
<form method="post" action="/submit">
{{if .Button}}<button class="h-captcha" data-sitekey="{{.Sitekey}}" data-callback="onButton">Send</button>
{{else}}<p><label>Name <input name="name"></label></p>
<div class="h-captcha" data-sitekey="{{.Sitekey}}"{{if .Theme}} data-theme="{{.Theme}}"{{end}}{{if .Size}} data-size="{{.Size}}"{{end}}
 data-callback="onPass" data-expired-callback="onExpired" data-chalexpired-callback="onChalExpired"
 data-error-callback="onError" data-open-callback="onOpen" data-close-callback="onClose"></div>
<div id="slot"></div>
<div id="bad"></div>
<p><button type="submit">Send</button></p>{{end}}
</form>
</body></html>
`))

var resultTmpl = template.Must(template.New("result").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Result</title></head>
<body><pre id="verify-result">{{.}}</pre></body></html>
`))

var cspTmpl = template.Must(template.New("csp").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Strict CSP</title>
<script src="/csp.js"></script>
<script src="{{.API}}/1/api.js?onload=cspReady&amp;render=explicit" async defer></script>
</head><body data-sitekey="{{.Sitekey}}">
<h1>Strict Content-Security-Policy</h1>
<div id="visible"></div>
<div id="invisible"></div>
<output id="out"></output>
</body></html>
`))

// cspJS runs under script-src 'self': the page renders one visible and one invisible
// widget explicitly and runs execute({async:true}) on the invisible one.
const cspJS = `
window.violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.violations.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sourceFile || ''));
});
window.cspReady = function () {
  var sitekey = document.body.getAttribute('data-sitekey');
  hcaptcha.render('visible', { sitekey: sitekey });
  var id = hcaptcha.render('invisible', { sitekey: sitekey, size: 'invisible' });
  hcaptcha.execute(id, { async: true }).then(function (r) {
    document.getElementById('out').textContent = JSON.stringify(r);
  }, function (e) {
    document.getElementById('out').textContent = 'error: ' + e;
  });
};
`

var loaderTmpl = template.Must(template.New("loader").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>@hcaptcha/loader</title>
<script src="/loader.js"></script>
<script src="/loader-page.js" defer></script>
</head><body data-sitekey="{{.Sitekey}}" data-api="{{.API}}" data-mode="{{.Mode}}">
<h1>Official hCaptcha loader</h1>
<div id="box"></div>
<output id="out"></output>
</body></html>
`))

// loaderPageJS uses @hcaptcha/loader the way its README shows, pointed at crowdgate.
const loaderPageJS = `
(function () {
  var d = document.body.dataset;
  var params = { sentry: false, render: 'explicit' };
  if (d.mode === 'source') params.scriptSource = d.api + '/1/api.js';
  else params.apihost = d.api;
  window.hCaptchaLoader(params).then(function (hc) {
    window.loaderResolvedWith = hc === window.hcaptcha ? 'window.hcaptcha' : typeof hc;
    var id = hc.render('box', { sitekey: d.sitekey });
    return hc.execute(id, { async: true });
  }).then(function (r) {
    document.getElementById('out').textContent = JSON.stringify(r);
  }, function (e) {
    document.getElementById('out').textContent = 'error: ' + e;
  });
})();
`

// newPageServer serves the integrator pages for a crowdgate host at api. verify, when not
// nil, is the integrator backend's token check behind POST /submit.
func newPageServer(t *testing.T, api string, verify func(token string) bool) *pageServer {
	t.Helper()
	loader, err := os.ReadFile(filepath.Join(moduleRoot(t), "node_modules", "@hcaptcha", "loader", "dist", "browser.js"))
	if err != nil {
		loader = nil // checkLoader reports the missing package
	}
	p := &pageServer{api: api}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		script := url.Values{}
		for _, k := range []string{"hl", "recaptchacompat", "render"} {
			if v := q.Get(k); v != "" {
				script.Set(k, v)
			}
		}
		script.Set("onload", "onHC")
		if p := q.Get("referrer"); p != "" {
			w.Header().Set("Referrer-Policy", p) // a page that hands its full URL to every request
		}
		page(w, formTmpl, map[string]any{
			"Script":  api + "/1/api.js?" + script.Encode(),
			"Sitekey": q.Get("sitekey"), "Theme": q.Get("theme"), "Size": q.Get("size"),
			"Button": q.Get("button") != "", "Lang": q.Get("lang"), "Dir": q.Get("dir"),
		}, "")
	})
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		tok := r.PostForm.Get("h-captcha-response")
		res := map[string]any{"success": verify != nil && verify(tok), "g-recaptcha-response-matches": r.PostForm.Get("g-recaptcha-response") == tok}
		b, _ := json.Marshal(res)
		page(w, resultTmpl, string(b), "")
	})
	// The strict page: scripts only from itself and the crowdgate host, no inline script,
	// no eval, styles only from itself (so no inline <style> or style attributes).
	mux.HandleFunc("GET /csp", func(w http.ResponseWriter, r *http.Request) {
		csp := "default-src 'none'; script-src 'self' " + api + "; connect-src " + api + "; img-src " + api +
			"; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
		page(w, cspTmpl, map[string]any{"API": api, "Sitekey": r.URL.Query().Get("sitekey")}, csp)
	})
	mux.HandleFunc("GET /csp.js", js(cspJS))
	mux.HandleFunc("GET /loader", func(w http.ResponseWriter, r *http.Request) {
		page(w, loaderTmpl, map[string]any{"API": api, "Sitekey": r.URL.Query().Get("sitekey"), "Mode": r.URL.Query().Get("mode")}, "")
	})
	mux.HandleFunc("GET /loader-page.js", js(loaderPageJS))
	mux.HandleFunc("GET /loader.js", js(string(loader)))
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pageServer) URL(path string, q url.Values) string {
	if len(q) == 0 {
		return p.srv.URL + path
	}
	return p.srv.URL + path + "?" + q.Encode()
}

func page(w http.ResponseWriter, t *template.Template, data any, csp string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if csp != "" {
		w.Header().Set("Content-Security-Policy", csp)
	}
	if err := t.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func js(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(body))
	}
}
