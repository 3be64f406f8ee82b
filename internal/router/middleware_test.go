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
