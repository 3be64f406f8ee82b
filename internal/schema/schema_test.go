package schema

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
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
		err := s.Validate(context.Background(), c.payload)
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

// exponential is issue 21's schema: each level evaluates the next one twice, so a payload n deep costs 2^n.
const exponential = `{"$defs":{"n":{"allOf":[{"additionalProperties":{"$ref":"#/$defs/n"}},{"additionalProperties":{"$ref":"#/$defs/n"}}]}},"$ref":"#/$defs/n"}`

func nested(depth int) []byte {
	return []byte(strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth))
}

func TestCheckShape(t *testing.T) {
	t.Parallel()
	refused := []struct{ name, schema, wantErr string }{
		{"exponential allOf", exponential, "grows too fast"},
		{"exponential anyOf items", `{"anyOf":[{"items":{"$ref":"#"}},{"items":{"$ref":"#"}},{"type":"string"}]}`, "grows too fast"},
		{"self reference", `{"$defs":{"a":{"allOf":[{"$ref":"#/$defs/a"}]}},"$ref":"#/$defs/a"}`, "refers to itself"},
	}
	for _, c := range refused {
		s, err := Compile(json.RawMessage(c.schema))
		if err != nil {
			t.Fatalf("%s: Compile: %v", c.name, err)
		}
		start := time.Now()
		err = s.CheckShape()
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: CheckShape = %v, want error containing %q", c.name, err, c.wantErr)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: CheckShape took %v", c.name, d)
		}
	}
	accepted := []string{
		userSchema,
		// a tree: recursive, one branch per level
		`{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#"}}}}`,
		// an expression language: several recursive branches, but each key picks one
		`{"anyOf":[{"type":"object","properties":{"and":{"type":"array","items":{"$ref":"#"}}}},` +
			`{"type":"object","properties":{"or":{"type":"array","items":{"$ref":"#"}}}},{"type":"string"}]}`,
		// the 2020-12 meta-schema ($dynamicRef everywhere)
		`{"$ref":"https://json-schema.org/draft/2020-12/schema"}`,
		`{"$ref":"http://json-schema.org/draft-07/schema#"}`,
	}
	for _, raw := range accepted {
		s, err := Compile(json.RawMessage(raw))
		if err != nil {
			t.Fatalf("Compile(%.60s): %v", raw, err)
		}
		if err := s.CheckShape(); err != nil {
			t.Errorf("CheckShape(%.60s) = %v, want nil", raw, err)
		}
	}
}

// TestValidateBounded: a schema saved before CheckShape existed still cannot make a publish run for long: the
// payload's depth and the count of evaluations are checked before the validator runs.
func TestValidateBounded(t *testing.T) {
	t.Parallel()
	s, err := Compile(json.RawMessage(exponential))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	cases := []struct {
		name    string
		payload []byte
		wantErr string
	}{
		{"shallow", nested(5), ""},
		{"21 deep", nested(21), "subschema evaluations"},
		{"23 deep", nested(23), "subschema evaluations"},
		{"too deep", nested(MaxDepth + 1), "more than 64 deep"},
		{"too deep arrays", []byte(strings.Repeat("[", 100_000)), "more than 64 deep"},
	}
	for _, c := range cases {
		start := time.Now()
		err := s.Validate(context.Background(), c.payload)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: Validate = %v, want nil", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: Validate = %v, want error containing %q", c.name, err, c.wantErr)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: Validate took %v", c.name, d)
		}
	}
	var decoded any
	if err := json.Unmarshal(nested(MaxDepth+2), &decoded); err != nil {
		t.Fatal(err)
	}
	linear, err := Compile(json.RawMessage(`{"additionalProperties":{"$ref":"#"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := linear.Validate(context.Background(), decoded); err == nil || !strings.Contains(err.Error(), "deep") {
		t.Errorf("Validate(decoded, too deep) = %v, want a depth error", err)
	}
}

func TestCheckDepth(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		raw string
		ok  bool
	}{
		{`{}`, true},
		{string(nested(MaxDepth)), true},
		{string(nested(MaxDepth + 1)), false},
		{`{"s":"` + strings.Repeat("[", 1000) + `"}`, true}, // brackets inside strings do not count
		{`{"s":"\"` + strings.Repeat("[", 1000) + `"}`, true},
		{`{"s":"\\"` + strings.Repeat(",[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}`, false},
	} {
		if err := CheckDepth([]byte(c.raw)); (err == nil) != c.ok {
			t.Errorf("CheckDepth(%.40s…) = %v, want ok=%v", c.raw, err, c.ok)
		}
	}
}
