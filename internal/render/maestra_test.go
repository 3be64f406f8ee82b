package render

import (
	"context"
	"strings"
	"testing"
)

// TestMaestraTransactionalID: the product document's `${WebhookRequest.TransactionalId}` renders the delivery id
// wherever `{{.TransactionalId}}` does (body, header value, URL path and query, escaped for its position, inside
// range and with), counts as using the idempotency key, and is never looked for inside actions, so the rest of
// the text cannot inject template code.
func TestMaestraTransactionalID(t *testing.T) {
	t.Parallel()
	vars := Vars{TransactionalId: "dlv_7", Data: map[string]any{"items": []any{"a", "b"}, "s": "${WebhookRequest.TransactionalId}"}}
	cases := []struct {
		name, text, want string
		url, uses        bool
	}{
		{"body", `{"id":"${WebhookRequest.TransactionalId}","n":1}`, `{"id":"dlv_7","n":1}`, false, true},
		{"header", `${WebhookRequest.TransactionalId}`, `dlv_7`, false, true},
		{"twice, mixed", `${WebhookRequest.TransactionalId}-{{.TransactionalId}}-${WebhookRequest.TransactionalId}`, `dlv_7-dlv_7-dlv_7`, false, true},
		{"inside range", `{{range .Data.items}}{{.}}:${WebhookRequest.TransactionalId};{{end}}`, `a:dlv_7;b:dlv_7;`, false, true},
		{"inside if", `{{if .Data.items}}${WebhookRequest.TransactionalId}{{end}}`, `dlv_7`, false, true},
		{"url query", `https://api.example.com/orders?transactionId=${WebhookRequest.TransactionalId}&x=1`,
			`https://api.example.com/orders?transactionId=dlv_7&x=1`, true, true},
		{"url path", `https://api.example.com/orders/${WebhookRequest.TransactionalId}`, `https://api.example.com/orders/dlv_7`, true, true},
		// Not plain text: a string literal, a comment, a payload value are left alone.
		{"string literal", `{{"${WebhookRequest.TransactionalId}"}}`, `${WebhookRequest.TransactionalId}`, false, false},
		{"comment", `{{/* ${WebhookRequest.TransactionalId} */}}x`, `x`, false, false},
		{"payload value", `{{.Data.s}}`, `${WebhookRequest.TransactionalId}`, false, false},
		{"other variable", `${WebhookRequest.Other}`, `${WebhookRequest.Other}`, false, false},
	}
	for _, c := range cases {
		parse := Parse
		if c.url {
			parse = ParseURL
		}
		tpl, err := parse(c.name, c.text)
		if err != nil {
			t.Fatalf("%s: parse: %v", c.name, err)
		}
		got, err := tpl.Execute(context.Background(), vars)
		if err != nil {
			t.Fatalf("%s: execute: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
		if u := UsesTransactionalID(tpl); u != c.uses {
			t.Errorf("%s: UsesTransactionalID = %v, want %v", c.name, u, c.uses)
		}
		if HasActions(c.text) != strings.Contains(c.text, "{{") && !strings.Contains(c.text, MaestraTransactionalID) {
			t.Errorf("%s: HasActions disagrees", c.name)
		}
	}
	// In a URL, the value is escaped for its position, and it may not stand in the host.
	tpl, err := ParseURL("url", `https://api.example.com/o/${WebhookRequest.TransactionalId}?k=${WebhookRequest.TransactionalId}`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Execute(context.Background(), Vars{TransactionalId: "a/b&c=d"})
	if err != nil || got != "https://api.example.com/o/a%2Fb&c=d?k=a%2Fb%26c%3Dd" {
		t.Errorf("escaped: %q, %v", got, err)
	}
	if _, err := ParseURL("url", `https://${WebhookRequest.TransactionalId}.example.com/x`); err == nil {
		t.Error("ParseURL accepted the key in the host")
	}
	if !HasActions("x${WebhookRequest.TransactionalId}") || HasActions("plain") || ActionIndex("ab{{.X}}${WebhookRequest.TransactionalId}") != 2 {
		t.Error("HasActions/ActionIndex")
	}
}
