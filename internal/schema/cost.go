package schema

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// MaxDepth is the deepest nesting of objects and arrays a payload may have: `{"a":[1]}` is 2 deep. Publish,
// test sends and sample payloads check it before any schema is evaluated.
const MaxDepth = 64

// MaxEvaluations bounds the work of validating one payload: the number of (subschema, payload value) pairs the
// validator may evaluate. It is counted before validation starts (an upper bound, cheap to compute), so a schema
// whose evaluation grows exponentially with the payload's depth (a recursive `$ref` under several `allOf`
// branches) is refused instead of running for minutes. About a second of CPU at the library's speed.
const MaxEvaluations = 500_000

// MaxPathEvaluations bounds a schema's shape, checked when it is saved: the number of subschema evaluations along
// one path of a payload MaxDepth deep (the worst key at each level). Ordinary schemas, recursive ones included,
// need a few hundred; a schema whose evaluation doubles with every level needs 2^MaxDepth.
const MaxPathEvaluations = 20_000

// otherKey stands for an object member name that no schema mentions.
const otherKey = "\x00other"

// errTooDeep is CheckDepth's error for a decoded value.
var errTooDeep = fmt.Errorf("nests objects and arrays more than %d deep", MaxDepth)

// errTooCostly marks an evaluation over a budget.
var errTooCostly = errors.New("too costly")

// CheckDepth reports an error when raw JSON nests objects and arrays deeper than MaxDepth. It scans bytes
// without decoding (strings are skipped), so a deep payload costs nothing to refuse.
func CheckDepth(raw []byte) error {
	depth, inString, escaped := 0, false, false
	for _, c := range raw {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > MaxDepth {
				return errTooDeep
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// multiset counts how many times each subschema is evaluated at one payload value (saturating at math.MaxInt64).
type multiset map[*jsonschema.Schema]int64

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func satMul(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

func (m multiset) add(s *jsonschema.Schema, n int64) {
	if s != nil && n > 0 {
		m[s] = satAdd(m[s], n)
	}
}

func (m multiset) total() int64 {
	var t int64
	for _, n := range m {
		t = satAdd(t, n)
	}
	return t
}

// costModel knows, for a compiled schema, which subschemas apply in place (to the same value: allOf, $ref, if,
// …) and which apply to a child value (properties, items, …). It over-approximates the validator: every branch
// counts, even those the validator would skip after an early failure.
type costModel struct {
	dynamic   map[string][]*jsonschema.Schema // $dynamicAnchor name → schemas that declare it
	recursive []*jsonschema.Schema            // schemas with "$recursiveAnchor": true
	closures  map[*jsonschema.Schema]multiset // in-place closure of a schema (itself included)
	visiting  map[*jsonschema.Schema]bool
}

func newCostModel(root *jsonschema.Schema) *costModel {
	m := &costModel{dynamic: map[string][]*jsonschema.Schema{}, closures: map[*jsonschema.Schema]multiset{},
		visiting: map[*jsonschema.Schema]bool{}}
	seen := map[*jsonschema.Schema]bool{}
	var walk func(s *jsonschema.Schema)
	walk = func(s *jsonschema.Schema) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		if s.DynamicAnchor != "" {
			m.dynamic[s.DynamicAnchor] = append(m.dynamic[s.DynamicAnchor], s)
		}
		if s.RecursiveAnchor {
			m.recursive = append(m.recursive, s)
		}
		for _, c := range m.inPlace(s) {
			walk(c)
		}
		for _, c := range allChildren(s) {
			walk(c)
		}
		if s.DynamicRef != nil {
			walk(s.DynamicRef.Ref)
		}
		walk(s.RecursiveRef)
	}
	walk(root)
	return m
}

// inPlace lists the subschemas evaluated against the same value as s.
func (m *costModel) inPlace(s *jsonschema.Schema) []*jsonschema.Schema {
	out := []*jsonschema.Schema{s.Ref, s.Not, s.If, s.Then, s.Else}
	out = append(out, s.AllOf...)
	out = append(out, s.AnyOf...)
	out = append(out, s.OneOf...)
	for _, d := range s.DependentSchemas {
		out = append(out, d)
	}
	for _, d := range s.Dependencies {
		if ds, ok := d.(*jsonschema.Schema); ok {
			out = append(out, ds)
		}
	}
	if s.DynamicRef != nil {
		out = append(out, s.DynamicRef.Ref)
		if s.DynamicRef.Anchor != "" {
			out = append(out, m.dynamic[s.DynamicRef.Anchor]...)
		}
	}
	if s.RecursiveRef != nil {
		out = append(out, s.RecursiveRef)
		out = append(out, m.recursive...)
	}
	return out
}

// allChildren lists every subschema that applies to some child value (object member or array item) of s's value.
func allChildren(s *jsonschema.Schema) []*jsonschema.Schema {
	out := []*jsonschema.Schema{s.PropertyNames, s.UnevaluatedProperties, s.Contains, s.Items2020, s.UnevaluatedItems}
	for _, p := range s.Properties {
		out = append(out, p)
	}
	for _, p := range s.PatternProperties {
		out = append(out, p)
	}
	if a, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
		out = append(out, a)
	}
	out = append(out, s.PrefixItems...)
	switch it := s.Items.(type) {
	case *jsonschema.Schema:
		out = append(out, it)
	case []*jsonschema.Schema:
		out = append(out, it...)
	}
	if a, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
		out = append(out, a)
	}
	return out
}

// closure is the multiset of subschemas evaluated in place when s is evaluated (s included). A cycle of
// in-place references ($ref to itself without descending into the value) is an error.
func (m *costModel) closure(s *jsonschema.Schema) (multiset, error) {
	if c, ok := m.closures[s]; ok {
		return c, nil
	}
	if m.visiting[s] {
		return nil, fmt.Errorf("%s refers to itself without descending into the value", location2schema(s.Location))
	}
	m.visiting[s] = true
	defer delete(m.visiting, s)
	c := multiset{s: 1}
	for _, sub := range m.inPlace(s) {
		if sub == nil {
			continue
		}
		sc, err := m.closure(sub)
		if err != nil {
			return nil, err
		}
		for k, n := range sc {
			c.add(k, n)
		}
	}
	m.closures[s] = c
	return c, nil
}

// expand turns the schemas applied to a value into everything evaluated there.
func (m *costModel) expand(applied multiset) (multiset, error) {
	out := multiset{}
	for s, n := range applied {
		c, err := m.closure(s)
		if err != nil {
			return nil, err
		}
		for k, kn := range c {
			out.add(k, satMul(n, kn))
		}
	}
	return out, nil
}

// memberSchemas adds the subschemas of s that apply to the object member named key (propertyNames aside).
func memberSchemas(s *jsonschema.Schema, key string, n int64, out multiset) {
	matched := false
	if p, ok := s.Properties[key]; ok {
		out.add(p, n)
		matched = true
	}
	for re, p := range s.PatternProperties {
		if re.MatchString(key) {
			out.add(p, n)
			matched = true
		}
	}
	if a, ok := s.AdditionalProperties.(*jsonschema.Schema); ok && !matched {
		out.add(a, n)
	}
	out.add(s.UnevaluatedProperties, n)
}

// itemSchemas adds the subschemas of s that apply to the array item at index i.
func itemSchemas(s *jsonschema.Schema, i int, n int64, out multiset) {
	switch {
	case i < len(s.PrefixItems):
		out.add(s.PrefixItems[i], n)
	default:
		out.add(s.Items2020, n)
	}
	switch it := s.Items.(type) {
	case *jsonschema.Schema:
		out.add(it, n)
	case []*jsonschema.Schema:
		if i < len(it) {
			out.add(it[i], n)
		} else if a, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
			out.add(a, n)
		}
	}
	out.add(s.Contains, n)
	out.add(s.UnevaluatedItems, n)
}

// estimator counts the evaluations of one payload, giving up past MaxEvaluations or when ctx ends.
type estimator struct {
	ctx   context.Context
	m     *costModel
	total int64
	nodes int
}

func (e *estimator) value(v any, depth int, applied multiset) error {
	if depth > MaxDepth {
		return errTooDeep
	}
	if len(applied) == 0 {
		return nil
	}
	e.nodes++
	if e.nodes%1024 == 0 {
		if err := e.ctx.Err(); err != nil {
			return err
		}
	}
	here, err := e.m.expand(applied)
	if err != nil {
		return err
	}
	e.total = satAdd(e.total, here.total())
	if e.total > MaxEvaluations {
		return errTooCostly
	}
	switch v := v.(type) {
	case map[string]any:
		names := multiset{}
		for s, n := range here {
			names.add(s.PropertyNames, n)
		}
		for key, child := range v {
			if err := e.value(key, depth+1, names); err != nil {
				return err
			}
			next := multiset{}
			for s, n := range here {
				memberSchemas(s, key, n, next)
			}
			if err := e.value(child, depth+1, next); err != nil {
				return err
			}
		}
	case []any:
		for i, child := range v {
			next := multiset{}
			for s, n := range here {
				itemSchemas(s, i, n, next)
			}
			if err := e.value(child, depth+1, next); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkShape refuses a schema whose evaluation along one payload path MaxDepth deep (the costliest key or index
// at each level, chosen greedily) exceeds MaxPathEvaluations.
func (m *costModel) checkShape(root *jsonschema.Schema) error {
	applied := multiset{root: 1}
	var total int64
	for depth := 0; depth <= MaxDepth && len(applied) > 0; depth++ {
		here, err := m.expand(applied)
		if err != nil {
			return err
		}
		total = satAdd(total, here.total())
		if total > MaxPathEvaluations {
			return fmt.Errorf("its evaluation grows too fast with the payload's depth: a value %d levels deep needs more than %d subschema evaluations (recursive $ref under several allOf/anyOf/oneOf branches?)",
				depth, MaxPathEvaluations)
		}
		applied = costliestChild(here)
	}
	return nil
}

// costliestChild returns, among the child values a value could have (every property name the schemas mention,
// an unmentioned name, every item index they mention and the next one), the schemas applied to the costliest.
func costliestChild(here multiset) multiset {
	keys := map[string]bool{otherKey: true}
	maxIndex := 0
	for s := range here {
		for k := range s.Properties {
			keys[k] = true
		}
		maxIndex = max(maxIndex, len(s.PrefixItems))
		if it, ok := s.Items.([]*jsonschema.Schema); ok {
			maxIndex = max(maxIndex, len(it))
		}
	}
	var best multiset
	var bestTotal int64 = -1
	consider := func(next multiset) {
		if t := next.total(); t > bestTotal {
			best, bestTotal = next, t
		}
	}
	// Sorted, so that among equally costly children the same one is followed every time (map order would make
	// the verdict on a borderline schema vary from one save to the next).
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		next := multiset{}
		for s, n := range here {
			memberSchemas(s, k, n, next)
			next.add(s.PropertyNames, n)
			if k == otherKey { // a name no schema mentions may match every pattern
				for _, p := range s.PatternProperties {
					next.add(p, n)
				}
			}
		}
		consider(next)
	}
	for i := 0; i <= maxIndex; i++ {
		next := multiset{}
		for s, n := range here {
			itemSchemas(s, i, n, next)
		}
		consider(next)
	}
	return best
}

// location2schema shortens a subschema's location for messages ("schema#/$defs/n").
func location2schema(loc string) string {
	if rest, ok := strings.CutPrefix(loc, location); ok {
		return "schema" + rest
	}
	return strconv.Quote(loc)
}
