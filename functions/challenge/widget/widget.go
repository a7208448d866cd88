// Package widget serves the browser script (GET /1/api.js) that speaks hCaptcha's client
// API. The script is embedded in the binary, so the widget and the challenge API it calls
// are always deployed together.
package widget

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

//go:embed api.js
var script []byte

const (
	contentType = "application/javascript; charset=utf-8"
	// Five minutes bounds how long a fixed script takes to reach every browser.
	cacheControl = "public, max-age=300"
)

// The script is compressed once at start-up: API Gateway does not compress Lambda
// answers, so the handler does when the browser accepts it.
var (
	gzipped   = mustGzip(script)
	etagPlain = etag(script, "")
	etagGzip  = etag(script, "-gz")
	modTime   time.Time // zero: no Last-Modified, the ETag is the validator
)

// Script returns the widget script as served (uncompressed).
func Script() []byte { return bytes.Clone(script) }

// Handler serves the widget script for GET and HEAD. Browsers may load it from any origin
// (hCaptcha's @hcaptcha/loader sets crossorigin="anonymous"), so it carries a wildcard
// CORS header of its own; the script reads no credentials.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Cache-Control", cacheControl)
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Add("Vary", "Accept-Encoding")
		body, tag := script, etagPlain
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, tag = gzipped, etagGzip
			h.Set("Content-Encoding", "gzip")
		}
		h.Set("ETag", tag)
		// ServeContent answers If-None-Match with 304 and handles HEAD and ranges.
		http.ServeContent(w, r, "api.js", modTime, bytes.NewReader(body))
	})
}

func etag(b []byte, suffix string) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + suffix + `"`
}

func mustGzip(b []byte) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		panic(err) // only for an invalid level
	}
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip (q=0 refuses it).
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		params = strings.ReplaceAll(params, " ", "")
		return params != "q=0" && params != "q=0.0" && params != "q=0.00" && params != "q=0.000"
	}
	return false
}
