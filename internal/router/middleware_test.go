package router

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRequestLogsRedactTokens: the action-status token in the path never reaches the request log.
func TestRequestLogsRedactTokens(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	h := logRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), log, nil)
	const token = "ast_0123456789abcdefSECRET"
	for _, path := range []string{"/v1/action-status/" + token, "/hookd.v1.WebhookService/GetWebhook"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, path+"?api_key="+token, nil))
	}
	out := buf.String()
	if strings.Contains(out, token) {
		t.Fatalf("the token reached the log:\n%s", out)
	}
	for _, want := range []string{"path=/v1/action-status/[redacted]", "path=/hookd.v1.WebhookService/GetWebhook"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestPlainRoutesAreInert: every plain route (export downloads, action-status answers, probes, 404s) answers
// nosniff with the sandbox CSP, unless the route sets a policy of its own (the console).
func TestPlainRoutesAreInert(t *testing.T) {
	h := New(Config{Logger: slog.New(slog.DiscardHandler), Routes: map[string]http.Handler{
		"GET /v1/deliveries/export": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			_, _ = w.Write([]byte("<svg onload=alert(1)>\n"))
		}),
		"/v1/action-status/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"reason":"<script>alert(1)</script>"}`))
		}),
		"/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", "default-src 'self'")
		}),
	}})
	for path, want := range map[string]string{
		"/v1/deliveries/export":  "sandbox; default-src 'none'",
		"/v1/action-status/ast_": "sandbox; default-src 'none'",
		"/healthz":               "sandbox; default-src 'none'",
		"/console":               "default-src 'self'",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if got := rec.Header().Get("Content-Security-Policy"); got != want {
			t.Errorf("GET %s: Content-Security-Policy %q, want %q", path, got, want)
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", path, got)
		}
	}
}
