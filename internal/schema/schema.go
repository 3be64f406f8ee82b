// Package schema compiles event types' JSON Schemas and validates payloads against them.
// Schemas are self-contained: references to other documents (files, URLs) are never loaded.
package schema

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var printer = message.NewPrinter(language.English)

// location is the base URL the schema is compiled under; relative $refs resolve against it and fail.
const location = "urn:hookd:event-type-schema"

// Schema is a compiled JSON Schema (draft 2020-12 unless it names another draft in `$schema`).
type Schema struct {
	s    *jsonschema.Schema
	cost *costModel
}

// noLoader refuses every external document, so a schema cannot make the server read files or URLs.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external reference %q is not allowed", url)
}

// Compile compiles a JSON Schema. The error message is short and user-facing.
func Compile(raw json.RawMessage) (*Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	switch doc.(type) {
	case map[string]any, bool:
	default:
		return nil, errors.New("must be a JSON object")
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	if err := c.AddResource(location, doc); err != nil {
		return nil, fmt.Errorf("add schema: %w", err)
	}
	s, err := c.Compile(location)
	if err != nil {
		return nil, errors.New(cleanMessage(err))
	}
	return &Schema{s: s, cost: newCostModel(s)}, nil
}

// CheckShape refuses a schema whose evaluation can blow up: one whose cost along a single payload path
// MaxDepth deep exceeds MaxPathEvaluations (a recursive $ref under several allOf/anyOf/oneOf branches doubles
// the work per level), or that refers to itself without descending into the payload. Event types check it when
// their schema is saved; schemas saved before it existed are still bounded by Validate's budget.
func (s *Schema) CheckShape() error {
	return s.cost.checkShape(s.s)
}

// Validate checks a payload: a decoded JSON value (map[string]any, []any, string, float64, json.Number,
// bool, nil) or raw JSON ([]byte / json.RawMessage). The error lists where the payload does not match.
//
// The work is bounded before it starts: raw JSON deeper than MaxDepth is refused unread, and a payload whose
// validation would evaluate more than MaxEvaluations (subschema, value) pairs is refused without running the
// validator (the library cannot be interrupted, so its input is what is bounded). The count stops when ctx ends.
func (s *Schema) Validate(ctx context.Context, payload any) error {
	switch raw := payload.(type) {
	case json.RawMessage:
		return s.validateRaw(ctx, raw)
	case []byte:
		return s.validateRaw(ctx, raw)
	}
	e := &estimator{ctx: ctx, m: s.cost}
	if err := e.value(payload, 0, multiset{s.s: 1}); err != nil {
		if errors.Is(err, errTooCostly) {
			return fmt.Errorf("validating it against the schema would take more than %d subschema evaluations", MaxEvaluations)
		}
		return err
	}
	if err := s.s.Validate(payload); err != nil {
		return errors.New(cleanMessage(err))
	}
	return nil
}

func (s *Schema) validateRaw(ctx context.Context, raw []byte) error {
	if err := CheckDepth(raw); err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	return s.Validate(ctx, v)
}

// cleanMessage turns the library's report into one line: for validation errors the failing locations and
// reasons ("at '/id': got string, want integer"), without the internal schema location.
func cleanMessage(err error) string {
	var serr *jsonschema.SchemaValidationError
	if errors.As(err, &serr) {
		err = serr.Err
	}
	var verr *jsonschema.ValidationError
	if errors.As(err, &verr) {
		var leaves []string
		collectLeaves(verr, &leaves)
		if len(leaves) > 0 {
			return strings.Join(leaves, "; ")
		}
	}
	msg := strings.ReplaceAll(err.Error(), location, "schema")
	return strings.Join(strings.Fields(msg), " ")
}

// collectLeaves gathers the messages of errors without causes (the actual mismatches).
func collectLeaves(e *jsonschema.ValidationError, out *[]string) {
	if len(e.Causes) == 0 {
		*out = append(*out, fmt.Sprintf("at '%s': %s", pointer(e.InstanceLocation), e.ErrorKind.LocalizedString(printer)))
		return
	}
	for _, c := range e.Causes {
		collectLeaves(c, out)
	}
}

func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}
