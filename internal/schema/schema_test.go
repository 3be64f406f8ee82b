package schema

import (
	"encoding/json"
	"strings"
	"testing"
)

const userSchema = `{
	"type": "object",
	"required": ["id", "email"],
	"properties": {
		"id": {"type": "integer"},
		"email": {"type": "string", "minLength": 3},
		"tags": {"type": "array", "items": {"type": "string"}}
	}
}`

func TestValidate(t *testing.T) {
	t.Parallel()
	s, err := Compile(json.RawMessage(userSchema))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	cases := []struct {
		name    string
		payload any
		wantErr string
	}{
		{"raw ok", json.RawMessage(`{"id": 1, "email": "a@b.c"}`), ""},
		{"map ok", map[string]any{"id": float64(7), "email": "x@y.z", "tags": []any{"a"}}, ""},
		{"missing required", json.RawMessage(`{"id": 1}`), "email"},
		{"wrong type", map[string]any{"id": "one", "email": "a@b.c"}, "/id"},
		{"nested", []byte(`{"id": 1, "email": "a@b.c", "tags": [1]}`), "/tags/0"},
		{"not an object", json.RawMessage(`[1,2]`), "object"},
		{"bad json", json.RawMessage(`{`), "not valid JSON"},
	}
	for _, c := range cases {
		err := s.Validate(c.payload)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: Validate = %v, want nil", c.name, err)
		case c.wantErr != "" && err == nil:
			t.Errorf("%s: Validate = nil, want error containing %q", c.name, c.wantErr)
		case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
			t.Errorf("%s: Validate = %q, want it to contain %q", c.name, err, c.wantErr)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: message has several lines: %q", c.name, err)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, schema, wantErr string }{
		{"bad json", `{"type":`, "not valid JSON"},
		{"not an object", `[1]`, "object"},
		{"bad keyword value", `{"type": "strnig"}`, "type"},
		{"bad minLength", `{"minLength": -1}`, "minLength"},
		{"file ref", `{"$ref": "file:///etc/passwd"}`, "not allowed"},
		{"http ref", `{"$ref": "https://example.com/s.json"}`, "not allowed"},
		{"bad regex", `{"pattern": "("}`, "pattern"},
	}
	for _, c := range cases {
		_, err := Compile(json.RawMessage(c.schema))
		if err == nil {
			t.Errorf("%s: Compile = nil, want error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: Compile = %q, want it to contain %q", c.name, err, c.wantErr)
		}
	}
	for _, ok := range []string{`{}`, `true`, `{"$defs": {"a": {"type": "string"}}, "$ref": "#/$defs/a"}`,
		`{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}`} {
		if _, err := Compile(json.RawMessage(ok)); err != nil {
			t.Errorf("Compile(%s) = %v, want nil", ok, err)
		}
	}
}
