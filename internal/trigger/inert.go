package trigger

import (
	"mime"
	"net/http"
	"strings"
)

// ContentSecurityPolicy is sent with every answer of `/t/` and `/v1/executions/` (default, custom, errors, 303,
// results): `sandbox` gives a document rendered from the answer an opaque origin with scripts, forms, popups
// and plugins disabled, so even an HTML or SVG body a MEMBER stored as a trigger's custom response can neither
// run script nor read hookd's origin (the console's sessionStorage); `default-src 'none'` lets it load nothing.
const ContentSecurityPolicy = "sandbox; default-src 'none'"

// setInert marks an answer inert: nosniff (the browser uses the declared type, never a guessed one) and
// ContentSecurityPolicy.
func setInert(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
}

// IsActiveContentType reports whether a body of content type ct would be run as script or applied as a style
// sheet when a page of hookd's origin loads it as a subresource (`<script src>`, a module, a worker,
// `<link rel=stylesheet>`, WebAssembly): there the answer's own Content-Security-Policy does not apply, and
// nosniff lets exactly these types through. Such types are refused as a trigger's response.content_type, and a
// stored one is served as text/plain. Documents (HTML, SVG, XML) are not active in this sense: opened, they
// render under ContentSecurityPolicy's sandbox. An unparsable type counts as active.
func IsActiveContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return true
	}
	switch mt {
	case "text/css", "application/wasm":
		return true
	}
	// The JavaScript MIME types of the WHATWG MIME Sniffing standard (text/javascript, application/x-javascript,
	// text/ecmascript, text/javascript1.5, text/jscript, text/livescript, …) and their relatives.
	for _, s := range []string{"javascript", "ecmascript", "jscript", "livescript"} {
		if strings.Contains(mt, s) {
			return true
		}
	}
	return false
}

// servedContentType is the content type a custom response is served with: the stored one unless it is active
// (stored before IsActiveContentType was enforced), then text/plain.
func servedContentType(ct string) string {
	if ct == "" {
		return "application/json"
	}
	if IsActiveContentType(ct) {
		return "text/plain; charset=utf-8"
	}
	return ct
}
