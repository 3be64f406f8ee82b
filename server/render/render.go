// Package render parses and executes the Go text/templates of webhooks (body, URL path, header values).
// Templates are parsed with the same functions when saved (to reject errors early) and when sent.
package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"
)

// MaxOutputBytes caps what one template may render, so a template cannot blow up memory.
const MaxOutputBytes = 4 << 20

// Vars are the variables a template sees: `{{.EventID}}`, `{{.Data.field}}`, `{{.TransactionalId}}` …
type Vars struct {
	// EventID is the event's id (evt_…).
	EventID string
	// EventType is the event type name (user.created).
	EventType string
	// Subject is the customer or user the event is about.
	Subject string
	// TransactionalId is the delivery id: the same on every retry, usable as an idempotency key.
	TransactionalId string
	// Link is the action-status callback URL of the delivery.
	Link string
	// Timestamp is when the event was published.
	Timestamp time.Time
	// Data is the event payload.
	Data map[string]any
	// Attempt is the attempt number, starting at 1.
	Attempt int
}

// Funcs returns the functions available to every template:
//
//	json      any → its JSON encoding ({{json .Data}})
//	upper     string → upper case
//	lower     string → lower case
//	trim      string → without surrounding spaces
//	default   default fallback value → value, or fallback when value is empty ({{default "n/a" .Data.x}})
//	rfc3339   time.Time → "2006-01-02T15:04:05Z07:00"
//	unix      time.Time → unix seconds
func Funcs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			if err != nil {
				return "", fmt.Errorf("json: %w", err)
			}
			return string(b), nil
		},
		"upper": func(v any) string { return strings.ToUpper(toString(v)) },
		"lower": func(v any) string { return strings.ToLower(toString(v)) },
		"trim":  func(v any) string { return strings.TrimSpace(toString(v)) },
		"default": func(fallback, v any) any {
			if isEmpty(v) {
				return fallback
			}
			return v
		},
		"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
		"unix":    func(t time.Time) int64 { return t.Unix() },
	}
}

// Parse parses a template with Funcs. Parse errors name the line and column.
func Parse(name, text string) (*template.Template, error) {
	t, err := template.New(name).Funcs(Funcs()).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	return t, nil
}

// ErrTooLarge is returned by Execute when the output exceeds MaxOutputBytes.
var ErrTooLarge = errors.New("template output too large")

// Execute renders t with v; the output is capped at MaxOutputBytes.
func Execute(t *template.Template, v Vars) (string, error) {
	w := &cappedBuffer{max: MaxOutputBytes}
	if err := t.Execute(w, v); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return "", ErrTooLarge
		}
		return "", fmt.Errorf("execute template: %w", err)
	}
	return w.String(), nil
}

type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, ErrTooLarge
	}
	return b.Buffer.Write(p)
}

func toString(v any) string {
	switch s := v.(type) {
	case nil:
		return ""
	case string:
		return s
	default:
		return fmt.Sprint(v)
	}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	case int:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	default:
		return false
	}
}
