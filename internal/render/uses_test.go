package render

import (
	"context"
	"strings"
	"testing"
	"text/template"
)

// TestUsesTransactionalID checks the parse-tree walk behind RETRY_POLICY_KIND_IDEMPOTENT against what the
// template really writes: for every case the rendered output holds the delivery id exactly when the walk says
// the template uses it (so a substring search, which would be fooled by comments and literals, is not needed).
func TestUsesTransactionalID(t *testing.T) {
	t.Parallel()
	const key = "dlv_THEKEY"
	cases := []struct {
		name, text string
		want       bool
	}{
		{"plain field", `{{.TransactionalId}}`, true},
		{"in a url query", `https://api.example.com/orders?transactionId={{.TransactionalId}}&x=1`, true},
		{"in a json body", `{"id":"{{.TransactionalId}}","data":{{json .Data}}}`, true},
		{"trimmed", `{{- .TransactionalId -}}`, true},
		{"pipeline", `{{.TransactionalId | trim | printf "%s"}}`, true},
		{"function argument", `{{printf "key-%s" .TransactionalId}}`, true},
		{"parenthesized", `{{trim (printf "%s" .TransactionalId)}}`, true},
		{"dollar", `{{range .Data.items}}{{$.TransactionalId}}{{end}}`, true},
		{"variable", `{{$id := .TransactionalId}}{"k":"{{$id}}"}`, true},
		{"with", `{{with .TransactionalId}}{{.}}{{end}}`, true},
		{"with variable", `{{with $k := .TransactionalId}}{{$k}}{{end}}`, true},
		{"inside if", `{{if .Data.name}}{{.TransactionalId}}{{end}}`, true},
		{"inside else", `{{if .Data.missing}}x{{else}}{{.TransactionalId}}{{end}}`, true},
		{"called template", `{{define "k"}}{{.TransactionalId}}{{end}}{"k":"{{template "k" .}}"}`, true},
		{"called with $", `{{define "k"}}{{.TransactionalId}}{{end}}{{range .Data.items}}{{template "k" $}}{{end}}`, true},
		{"called with the field", `{{define "k"}}<{{.}}>{{end}}{{template "k" .TransactionalId}}`, true},
		{"block", `{{block "k" .}}{{.TransactionalId}}{{end}}`, true},

		{"no template", `https://api.example.com/orders`, false},
		{"other field", `{{.EventID}} {{.Data.TransactionalId}}`, false},
		{"comment", `{{/* {{.TransactionalId}} */}}{"a":1}`, false},
		{"string literal", `{{"{{.TransactionalId}}" | len}}`, false},
		{"condition only", `{{if .TransactionalId}}yes{{end}}`, false},
		{"assigned but unused", `{{$id := .TransactionalId}}nothing`, false},
		{"dot inside range", `{{range .Data.items}}{{.TransactionalId}}{{end}}`, false},
		{"dot inside with other", `{{with .Data}}{{.TransactionalId}}{{end}}`, false},
		{"defined never called", `{{define "k"}}{{.TransactionalId}}{{end}}body`, false},
		{"called with other data", `{{define "k"}}{{.TransactionalId}}{{end}}{{template "k" .Data}}`, false},
		{"called with nothing", `{{define "k"}}{{.TransactionalId}}{{end}}{{template "k"}}`, false},
		{"dollar in called template is its data", `{{define "k"}}{{$.TransactionalId}}{{end}}{{template "k" .Data}}`, false},
		{"recursive template", `{{define "r"}}{{template "r" .Data}}{{end}}{{template "r" .Data}}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := Parse(tc.name, tc.text)
			if strings.Contains(tc.text, "{{define") || strings.Contains(tc.text, "{{template") || strings.Contains(tc.text, "{{block") {
				if err == nil {
					t.Fatalf("Parse(%q) = nil error: webhook templates may not define or call templates", tc.text)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := UsesTransactionalID(tmpl); got != tc.want {
				t.Errorf("UsesTransactionalID(%q) = %v, want %v", tc.text, got, tc.want)
			}
			if tc.name == "recursive template" {
				return // executing it would recurse until the depth limit
			}
			out, err := tmpl.Execute(context.Background(), Vars{TransactionalId: key, EventID: "evt_1",
				Data: map[string]any{"name": "Ada", "items": []any{map[string]any{"TransactionalId": "nested"}}}})
			if err != nil {
				t.Fatalf("execute %q: %v", tc.text, err)
			}
			if strings.Contains(out, key) != tc.want {
				t.Errorf("output %q: contains the key = %v, want %v", out, !tc.want, tc.want)
			}
		})
	}
}

func TestUsesTransactionalIDAnyOf(t *testing.T) {
	t.Parallel()
	body, err := Parse("body", `{"a":1}`)
	if err != nil {
		t.Fatal(err)
	}
	header, err := Parse("header", `key-{{.TransactionalId}}`)
	if err != nil {
		t.Fatal(err)
	}
	if UsesTransactionalID() || UsesTransactionalID(nil, body) {
		t.Error("no template uses the key")
	}
	if !UsesTransactionalID(nil, body, header) {
		t.Error("the header template uses the key")
	}
	if UsesTransactionalID(&Template{t: template.New("empty")}) {
		t.Error("an unparsed template uses nothing")
	}
}
