package render

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestExecute(t *testing.T) {
	t.Parallel()
	vars := Vars{
		EventID:         "evt_1",
		EventType:       "user.created",
		Subject:         "cus_9",
		TransactionalId: "dlv_7",
		Link:            "https://hookd.example/v1/action-status/tok",
		Timestamp:       time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Data:            map[string]any{"name": "Ada", "tags": []any{"a", "b"}, "n": float64(3), "empty": ""},
		Attempt:         2,
	}
	cases := []struct{ name, text, want string }{
		{"field", `{{.Data.name}}`, "Ada"},
		{"all vars", `{{.EventID}} {{.EventType}} {{.Subject}} {{.TransactionalId}} {{.Attempt}}`, "evt_1 user.created cus_9 dlv_7 2"},
		{"json", `{"user":{{json .Data.name}},"tags":{{json .Data.tags}}}`, `{"user":"Ada","tags":["a","b"]}`},
		{"if", `{{if .Data.name}}yes{{else}}no{{end}}`, "yes"},
		{"range", `{{range .Data.tags}}[{{.}}]{{end}}`, "[a][b]"},
		{"upper lower trim", `{{upper .Data.name}}{{lower "X"}}{{trim "  y "}}`, "ADAxy"},
		{"default", `{{default "none" .Data.empty}}/{{default "none" .Data.name}}/{{default "none" .Data.missing}}`, "none/Ada/none"},
		{"time", `{{rfc3339 .Timestamp}} {{unix .Timestamp}}`, "2026-01-02T03:04:05Z 1767323045"},
		{"link", `{{.Link}}`, "https://hookd.example/v1/action-status/tok"},
	}
	for _, c := range cases {
		tpl, err := Parse(c.name, c.text)
		if err != nil {
			t.Fatalf("%s: Parse: %v", c.name, err)
		}
		got, err := Execute(tpl, vars)
		if err != nil {
			t.Fatalf("%s: Execute: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, text := range []string{`{{.Data.name`, `{{if .X}}`, `{{nosuchfunc .X}}`, `{{end}}`} {
		if _, err := Parse("t", text); err == nil {
			t.Errorf("Parse(%q) = nil error, want one", text)
		}
	}
}

func TestExecuteCapsOutput(t *testing.T) {
	t.Parallel()
	tpl, err := Parse("big", `{{range .Data.items}}`+strings.Repeat("x", 1<<20)+`{{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Execute(tpl, Vars{Data: map[string]any{"items": make([]any, 10)}})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Execute = %v, want ErrTooLarge", err)
	}
}

func TestExecuteError(t *testing.T) {
	t.Parallel()
	tpl, err := Parse("bad", `{{index .Data.tags 5}}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Execute(tpl, Vars{Data: map[string]any{"tags": []any{}}}); err == nil {
		t.Fatal("Execute = nil error, want index out of range")
	}
}
