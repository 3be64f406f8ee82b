package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestConsole: `hookd serve` serves the embedded console at / with its security headers and client routes,
// the API beside it unchanged; --console=false and sender-only processes serve none.
func TestConsole(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	p := startHookd(t, key, "--data-dir", t.TempDir())
	for _, path := range []string{"/", "/logs", "/event-types/user.created"} {
		resp, err := http.Get(p.baseURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d %s, want the console's index.html", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
	}
	if code, body := get(t, p.baseURL+"/"); !strings.Contains(body, `<div id="app">`) {
		t.Errorf("GET /: %d %q", code, body)
	}
	if code, _ := get(t, p.baseURL+"/v1/nope"); code != http.StatusNotFound {
		t.Errorf("GET /v1/nope: %d, want 404", code)
	}
	if code, _ := curl(t, p.baseURL, key, "/hookd.v1.ApiKeyService/GetCurrentApiKey", map[string]any{}); code != http.StatusOK {
		t.Errorf("GetCurrentApiKey beside the console: %d", code)
	}

	off := startHookd(t, key, "--data-dir", t.TempDir(), "--console=false")
	if code, _ := get(t, off.baseURL+"/"); code != http.StatusNotFound {
		t.Errorf("--console=false: GET / answered %d, want 404", code)
	}
	if code, _ := curl(t, off.baseURL, key, "/hookd.v1.ApiKeyService/GetCurrentApiKey", map[string]any{}); code != http.StatusOK {
		t.Errorf("--console=false: the API answered %d", code)
	}
}
