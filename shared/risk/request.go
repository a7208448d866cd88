package risk

import (
	"strconv"
	"strings"
)

// Browser families the header checks know.
const (
	browserOther = iota
	browserChromium
	browserFirefox
	browserSafari
)

// Platforms as both the user agent and Sec-CH-UA-Platform name them.
const (
	platUnknown  = ""
	platWindows  = "windows"
	platMac      = "macos"
	platLinux    = "linux"
	platAndroid  = "android"
	platIOS      = "ios"
	platChromeOS = "chromeos"
)

// userAgent is what the checks need from a User-Agent string.
type userAgent struct {
	raw      string
	browser  int
	major    int // browser major version, 0 = unknown
	platform string
	mobile   bool // the UA says "Mobile"
	webview  bool // Android WebView ("; wv)"): its client-hint support differs
	headless bool
	tool     bool // an HTTP library or crawler, not a browser
}

// toolMarkers are substrings of user agents sent by HTTP libraries and crawlers.
var toolMarkers = []string{
	"curl/", "wget/", "python-requests", "python-urllib", "python-httpx", "aiohttp", "go-http-client",
	"node-fetch", "axios/", "undici", "okhttp", "java/", "apache-httpclient", "libwww-perl",
	"scrapy", "postmanruntime", "httpie", "phantomjs", "slimerjs", "bot/", "spider", "crawler",
}

func parseUA(s string) userAgent {
	ua := userAgent{raw: s}
	if s == "" {
		return ua
	}
	l := strings.ToLower(s)
	for _, m := range toolMarkers {
		if strings.Contains(l, m) {
			ua.tool = true
			break
		}
	}
	ua.headless = strings.Contains(s, "HeadlessChrome") || strings.Contains(s, "PhantomJS")
	ua.webview = strings.Contains(s, "; wv)")
	ua.mobile = strings.Contains(s, "Mobile")
	switch {
	case strings.Contains(s, "iPhone"), strings.Contains(s, "iPad"), strings.Contains(s, "iPod"):
		ua.platform = platIOS
	case strings.Contains(s, "Android"):
		ua.platform = platAndroid
	case strings.Contains(s, "CrOS"):
		ua.platform = platChromeOS
	case strings.Contains(s, "Windows"):
		ua.platform = platWindows
	case strings.Contains(s, "Macintosh"), strings.Contains(s, "Mac OS X"):
		ua.platform = platMac
	case strings.Contains(s, "Linux"), strings.Contains(s, "X11"):
		ua.platform = platLinux
	}
	switch {
	case ua.platform == platIOS:
		// Every iOS browser is WebKit and behaves like Safari, whatever it calls itself.
		ua.browser = browserSafari
		ua.major = versionAfter(s, "Version/")
		if ua.major == 0 {
			ua.major = versionAfter(s, "OS ")
		}
	case strings.Contains(s, "Firefox/"):
		ua.browser, ua.major = browserFirefox, versionAfter(s, "Firefox/")
	case strings.Contains(s, "Chrome/"), strings.Contains(s, "Chromium/"):
		ua.browser = browserChromium
		if ua.major = versionAfter(s, "Chrome/"); ua.major == 0 {
			ua.major = versionAfter(s, "Chromium/")
		}
	case strings.Contains(s, "Safari/") && strings.Contains(s, "Version/"):
		ua.browser, ua.major = browserSafari, versionAfter(s, "Version/")
	}
	return ua
}

// versionAfter reads the integer right after marker ("Chrome/120.0…" → 120); for iOS
// "OS 17_4" it reads 17.
func versionAfter(s, marker string) int {
	i := strings.Index(s, marker)
	if i < 0 {
		return 0
	}
	s = s[i+len(marker):]
	j := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(s[:j])
	if err != nil {
		return 0
	}
	return n
}

// hasRequest reports whether there is request metadata to check at all.
func hasRequest(r Request) bool { return r.UserAgent != "" || len(r.Header) > 0 }

// automationRisk collects hard tells: things no person's browser reports.
func automationRisk(req Request, ua userAgent, t *Telemetry) float64 {
	keep := 1.0
	tell := func(r float64) { keep *= 1 - r }
	if hasRequest(req) {
		switch {
		case req.UserAgent == "":
			tell(0.8)
		case ua.tool:
			tell(0.95)
		case ua.headless:
			tell(0.95)
		}
	}
	if t != nil && t.Automation != nil {
		a := t.Automation
		if a.Webdriver != nil && *a.Webdriver {
			tell(0.97)
		}
		if a.HeadlessUA != nil && *a.HeadlessUA {
			tell(0.95)
		}
		if a.Globals != nil && *a.Globals > 0 {
			tell(0.9)
		}
		if a.Languages != nil && *a.Languages == 0 {
			tell(0.6)
		}
		desktopChrome := ua.browser == browserChromium && !ua.mobile && ua.platform != platAndroid
		if desktopChrome && a.ChromeObject != nil && !*a.ChromeObject {
			tell(0.5)
		}
		if desktopChrome && a.Plugins != nil && *a.Plugins == 0 {
			tell(0.3)
		}
	}
	if t != nil && t.Viewport != nil {
		v := t.Viewport
		if v.OuterW != nil && v.OuterH != nil && *v.OuterW == 0 && *v.OuterH == 0 && v.W > 0 {
			tell(0.8)
		}
	}
	return 1 - keep
}

// headerRisk checks that the user agent, client hints, fetch metadata and what the page
// saw agree. Each disagreement alone is weak (extensions and privacy tools strip
// headers), several together are not.
func headerRisk(req Request, ua userAgent, t *Telemetry) float64 {
	if req.Header == nil || req.UserAgent == "" || ua.tool {
		return 0 // headers unknown, nothing to compare, or already an automation tell
	}
	h := req.Header
	keep := 1.0
	bad := func(r float64) { keep *= 1 - r }
	chUA := h.Get("Sec-Ch-Ua") // canonical spelling: Get allocates to canonicalise any other
	chPlatform := strings.ToLower(strings.Trim(h.Get("Sec-Ch-Ua-Platform"), `"`))
	chMobile := h.Get("Sec-Ch-Ua-Mobile")

	switch ua.browser {
	case browserChromium:
		// Chromium sends low-entropy client hints to every secure origin since 89;
		// Android WebView's support came later.
		if chUA == "" && ua.major >= 90 && !ua.webview {
			bad(0.45)
		}
		if chUA != "" && ua.major > 0 && !brandHasVersion(chUA, ua.major) {
			bad(0.5)
		}
	case browserFirefox, browserSafari:
		if chUA != "" {
			bad(0.6) // only Chromium sends client hints
		}
	}
	if chPlatform != "" && ua.platform != platUnknown && !platformsAgree(ua.platform, chPlatform) {
		bad(0.5)
	}
	if chMobile == "?1" && ua.platform != platAndroid && ua.platform != platIOS {
		bad(0.4)
	}
	if chMobile == "?0" && ua.platform == platAndroid && ua.mobile {
		bad(0.3)
	}
	if fetchMetadataExpected(ua) && h.Get("Sec-Fetch-Mode") == "" && h.Get("Sec-Fetch-Site") == "" {
		bad(0.4)
	}
	if h.Get("Accept-Language") == "" {
		bad(0.3)
	}
	if t != nil && t.Automation != nil {
		a := t.Automation
		if p := navPlatform(a.Platform); p != platUnknown && ua.platform != platUnknown && !navAgrees(ua.platform, p) {
			bad(0.5)
		}
		if a.MaxTouchPoints != nil && *a.MaxTouchPoints == 0 && ua.mobile &&
			(ua.platform == platAndroid || ua.platform == platIOS) {
			bad(0.4) // a phone user agent on a device without a touch screen
		}
	}
	return 1 - keep
}

// fetchMetadataExpected: browsers that send Sec-Fetch-* on every request to a secure
// origin (Chromium 80+, Firefox 90+, Safari 16.4+).
func fetchMetadataExpected(ua userAgent) bool {
	switch ua.browser {
	case browserChromium:
		return ua.major >= 80
	case browserFirefox:
		return ua.major >= 90
	case browserSafari:
		return ua.major >= 17 // 16.4 added it; a major-only check must start at 17
	}
	return false
}

// brandHasVersion reports whether a Sec-CH-UA list (`"Chromium";v="120", …`) names the
// major version the user agent claims.
func brandHasVersion(ch string, major int) bool {
	want := `v="` + strconv.Itoa(major) + `"`
	return strings.Contains(ch, want)
}

func platformsAgree(uaPlat, ch string) bool {
	switch ch {
	case "windows":
		return uaPlat == platWindows
	case "macos":
		return uaPlat == platMac
	case "linux":
		return uaPlat == platLinux || uaPlat == platChromeOS
	case "android":
		// "Request desktop site" on Android sends a Linux user agent.
		return uaPlat == platAndroid || uaPlat == platLinux
	case "chrome os", "chromeos":
		return uaPlat == platChromeOS || uaPlat == platLinux
	case "ios":
		return uaPlat == platIOS || uaPlat == platMac
	}
	return true // "Unknown", "Fuchsia", …: nothing to compare
}

// navPlatform maps navigator.platform to a platform.
func navPlatform(p string) string {
	switch {
	case p == "":
		return platUnknown
	case strings.HasPrefix(p, "Win"):
		return platWindows
	case strings.HasPrefix(p, "Mac"):
		return platMac
	case p == "iPhone" || p == "iPad" || p == "iPod" || strings.HasPrefix(p, "iPhone") || strings.HasPrefix(p, "iPad"):
		return platIOS
	case strings.HasPrefix(p, "Linux"), strings.HasPrefix(p, "Android"):
		return platLinux
	}
	return platUnknown
}

func navAgrees(uaPlat, nav string) bool {
	switch nav {
	case platWindows:
		return uaPlat == platWindows
	case platMac:
		// iPadOS asks for desktop sites as a Mac.
		return uaPlat == platMac || uaPlat == platIOS
	case platIOS:
		return uaPlat == platIOS
	case platLinux:
		return uaPlat == platLinux || uaPlat == platAndroid || uaPlat == platChromeOS
	}
	return true
}
