package render

import (
	"context"
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
		got, err := tpl.Execute(context.Background(), vars)
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
	tpl, err := Parse("big", `{{range .Data.items}}`+strings.Repeat("x", 100<<10)+`{{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.Execute(context.Background(), Vars{Data: map[string]any{"items": make([]any, 10)}})
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
	if _, err := tpl.Execute(context.Background(), Vars{Data: map[string]any{"tags": []any{}}}); err == nil {
		t.Fatal("Execute = nil error, want index out of range")
	}
}

// Templates are untrusted: every render stops at its bounds, fast, with a "template: …" error wrapping ErrLimit.
func TestBounds(t *testing.T) {
	t.Parallel()
	big := make([]any, 50_000)
	vars := Vars{Data: map[string]any{"items": big, "s": "ab"}}
	cases := []struct{ name, text string }{
		{"nested integer ranges", `{{range 1000000}}{{range 1000000}}{{end}}{{end}}`},
		{"nested data ranges", `{{range .Data.items}}{{range $.Data.items}}{{end}}{{end}}`},
		{"doubling a variable", `{{$x := "ab"}}{{range 64}}{{$x = print $x $x}}{{end}}{{len $x}}`},
		{"doubling with printf", `{{$x := "ab"}}{{range 64}}{{$x = printf "%s%s" $x $x}}{{end}}`},
		{"huge printf width", `{{printf "%999999999d" 1}}`},
		{"star printf width", `{{printf "%*d" 999999999 1}}`},
		{"output over the limit", `{{range 100000}}0123456789{{end}}`},
		{"json in a loop", `{{range .Data.items}}{{if eq (json $.Data) ""}}{{end}}{{end}}`},
		{"urlquery doubling", `{{$x := "%%"}}{{range 64}}{{$x = urlquery $x $x}}{{end}}`},
	}
	for _, c := range cases {
		tpl, err := Parse(c.name, c.text)
		if err != nil {
			t.Fatalf("%s: Parse: %v", c.name, err)
		}
		start := time.Now()
		_, err = tpl.Execute(context.Background(), vars)
		took := time.Since(start)
		if !errors.Is(err, ErrLimit) {
			t.Errorf("%s: Execute = %v, want a bound error", c.name, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "template: ") {
			t.Errorf("%s: error %q does not start with \"template: \"", c.name, err)
		}
		if took > DefaultTimeout+100*time.Millisecond {
			t.Errorf("%s: took %v, want at most about %v", c.name, took, DefaultTimeout)
		}
	}
}

func TestTimeoutAndContext(t *testing.T) {
	t.Parallel()
	// Many cheap iterations that together pass a short deadline.
	tpl, err := Parse("slow", `{{range .Data.items}}{{json $.Data.small}}{{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	vars := Vars{Data: map[string]any{"items": make([]any, 90_000), "small": map[string]any{"a": 1}}}
	start := time.Now()
	_, err = tpl.ExecuteLimits(context.Background(), vars, Limits{Timeout: 5 * time.Millisecond, MaxOutputBytes: 10 << 20})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("Execute = %v, want the time bound", err)
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Fatalf("a 5ms render took %v: it must stop when its budget ends", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tpl.Execute(ctx, vars); !errors.Is(err, context.Canceled) {
		t.Fatalf("Execute with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestMissingKeysRenderEmpty(t *testing.T) {
	t.Parallel()
	tpl, err := Parse("missing", `{"a":"{{.Data.missing}}","b":"{{.Data.x.y}}","c":{{json .Data.missing}}}`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Execute(context.Background(), Vars{Data: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":"","b":"","c":null}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestNoTemplateCalls(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		`{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`,
		`{{block "b" .}}x{{end}}`,
		`{{template "nope"}}`,
	} {
		if _, err := Parse("t", text); err == nil {
			t.Errorf("Parse(%q) = nil error, want template calls refused", text)
		}
	}
	tpl, err := Parse("call", `{{call .Data.f}}`)
	if err == nil {
		if _, err = tpl.Execute(context.Background(), Vars{Data: map[string]any{"f": func() string { return "x" }}}); err == nil {
			t.Error("call ran a function")
		}
	}
}

func TestURLTemplates(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		`https://{{.Data.u}}@example.com/x`,
		`https://{{.Data.host}}/x`,
		`https://example.com:{{.Data.port}}/x`,
		`https://user@example.com/x/{{.Data.id}}`,
		`https://example.com/x#{{.Data.f}}`,
		`{{.Data.scheme}}://example.com/x`,
		`https://example.com{{.Data.path}}`,
	} {
		if _, err := ParseURL("url", text); err == nil {
			t.Errorf("ParseURL(%q) = nil error, want refused", text)
		}
	}
	tpl, err := ParseURL("url", `https://api.example.com/orders/{{.Data.id}}/items?token={{.Data.tok}}&x=1`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Execute(context.Background(), Vars{Data: map[string]any{"id": "a@evil.invalid/?x=../", "tok": "a&b=c#d"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "https://api.example.com/orders/a@evil.invalid%2F%3Fx=..%2F/items?token=a%26b%3Dc%23d&x=1"
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	got, err = tpl.Execute(context.Background(), Vars{Data: map[string]any{"id": ".."}})
	if err != nil || !strings.Contains(got, "/orders/%2E%2E/") {
		t.Fatalf("dot-dot segment: %q, %v", got, err)
	}
	plain, err := ParseURL("url", "https://example.com/plain")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := plain.Execute(context.Background(), Vars{}); err != nil || got != "https://example.com/plain" {
		t.Fatalf("plain URL: %q, %v", got, err)
	}
}
