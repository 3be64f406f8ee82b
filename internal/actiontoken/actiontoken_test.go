package actiontoken_test

import (
	"strings"
	"testing"

	"github.com/hookd/hookd/internal/actiontoken"
)

func TestTokens(t *testing.T) {
	keys, other := actiontoken.Static("key one"), actiontoken.Static("key two")
	tok := actiontoken.New(keys, "dlv_01jdabc", 2)
	id, n, ok := actiontoken.Parse(keys, tok)
	if !ok || id != "dlv_01jdabc" || n != 2 {
		t.Fatalf("Parse(%q) = %q, %d, %v", tok, id, n, ok)
	}
	if tok == actiontoken.New(keys, "dlv_01jdabc", 3) {
		t.Fatal("a resend must get a new token")
	}
	mac := tok[strings.LastIndex(tok, ".")+1:]
	for name, bad := range map[string]string{
		"other key":      actiontoken.New(other, "dlv_01jdabc", 2),
		"other delivery": "dlv_01jdabd.2." + mac,
		"other count":    "dlv_01jdabc.3." + mac,
		"leading zero":   "dlv_01jdabc.02." + mac,
		"negative":       "dlv_01jdabc.-2." + mac,
		"no mac":         "dlv_01jdabc.2",
		"empty":          "",
		"short mac":      tok[:len(tok)-4],
		"slash in id":    "dlv/x.2." + mac,
		"random":         "8d9f0a",
		"extra dot":      "dlv_01jdabc..2." + mac,
	} {
		if _, _, ok := actiontoken.Parse(keys, bad); ok {
			t.Errorf("%s: Parse(%q) accepted a forged token", name, bad)
		}
	}
	if got := actiontoken.Redact(`{"link":"https://h/v1/action-status/`+tok+`"}`, tok); strings.Contains(got, tok) || !strings.Contains(got, actiontoken.Redacted) {
		t.Errorf("Redact left the token: %s", got)
	}
}
