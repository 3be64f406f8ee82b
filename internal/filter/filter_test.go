package filter_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/filter"
)

// TestCompile: filters are type-checked and cost-checked when saved, with CEL's message.
func TestCompile(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ text, err string }{
		{`data.amount > 100 && subject.startsWith("cus_")`, ""},
		{`type == "order.paid" || tenant_id == "t1"`, ""},
		{`data.items.exists(i, i.sku == "x")`, ""},
		{`has(data.customer) && data.customer.country in ["DE", "FR"]`, ""},
		{`data.amount >`, "Syntax error"},
		{`nosuchvar == 1`, "undeclared reference"},
		{`subject + 1`, "found no matching overload"},
		{`size(subject)`, "must evaluate to a bool"},
		{`data.a.all(x, data.b.all(y, data.c.exists(z, x == y && y == z)))`, "too costly"},
		{"", "is empty"},
		{strings.Repeat("a", filter.MaxLength+1), "longer than"},
	} {
		_, err := filter.Compile(c.text)
		if c.err == "" {
			assert.NoError(t, err, c.text)
		} else if assert.Error(t, err, c.text) {
			assert.Contains(t, err.Error(), c.err, c.text)
		}
	}
}

// TestMatch evaluates filters against events; evaluation errors are no match and are counted.
func TestMatch(t *testing.T) {
	ev := filter.Event{Type: "order.paid", Subject: "cus_42", Data: filter.Decode([]byte(`{"amount":150,"items":[{"sku":"x"}],"nested":{"ok":true}}`))}
	c := filter.NewCache()
	for text, want := range map[string]bool{
		"": true,
		`data.amount > 100 && subject.startsWith("cus_")`: true,
		`data.amount > 200`:                  false,
		`data.amount == 150`:                 true,
		`data.items.exists(i, i.sku == "x")`: true,
		`data.nested.ok`:                     true,
		`type == "order.created"`:            false,
		`tenant_id == ""`:                    true,
	} {
		assert.Equal(t, want, c.Match(text, ev), text)
	}
	before := testutil.ToFloat64(filter.ErrorsTotal)
	assert.False(t, c.Match(`data.missing > 1`, ev), "a missing key is an error: no match")
	assert.False(t, c.Match(`data.amount.foo == 1`, ev))
	assert.False(t, c.Match(`syntax error (`, ev), "a filter that does not compile matches nothing")
	assert.Equal(t, before+3, testutil.ToFloat64(filter.ErrorsTotal))

	p, err := c.Get(`data.amount > 100`)
	require.NoError(t, err)
	again, err := c.Get(`data.amount > 100`)
	require.NoError(t, err)
	assert.Same(t, p, again, "compiled once")
}

// BenchmarkMatch100 is the filters' share of a publish that 100 filtered subscriptions match: decoding the payload
// once and evaluating 100 cached programs.
//
//	go test -run '^$' -bench BenchmarkMatch100 ./internal/filter/
func BenchmarkMatch100(b *testing.B) {
	c := filter.NewCache()
	var texts []string
	for i := range 100 {
		texts = append(texts, fmt.Sprintf(`data.amount > %d && subject.startsWith("cus_") && data.items.exists(x, x.sku == "a")`, i%50))
	}
	payload := []byte(`{"amount":50,"currency":"EUR","items":[{"sku":"b"},{"sku":"a"}],"customer":{"id":"cus_1"}}`)
	b.ReportAllocs()
	for b.Loop() {
		v := filter.VarsOf(filter.Event{Type: "order.paid", Subject: "cus_1", Data: filter.Decode(payload)})
		for _, t := range texts {
			if !c.MatchVars(t, v) {
				b.Fatal("no match")
			}
		}
	}
}
