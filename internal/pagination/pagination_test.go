package pagination

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/hookd/hookd/internal/store"
)

type item struct{ ID, Body string }

func TestTrim(t *testing.T) {
	t.Parallel()
	cursor := func(i item) string { return i.ID }
	tok := func(next string) string {
		raw, _ := base64.RawURLEncoding.DecodeString(next)
		return strings.TrimPrefix(string(raw), tokenPrefix)
	}
	p, err := Parse(3, "")
	if err != nil || p.Size != 4 || p.MaxBytes != MaxPageBytes {
		t.Fatalf("Parse(3) = %+v, %v", p, err)
	}
	small := []item{{"d", ""}, {"c", ""}, {"b", ""}, {"a", ""}}
	// The extra row says more follow.
	got, next := Trim(small, p, cursor)
	if len(got) != 3 || tok(next) != "b" {
		t.Fatalf("extra row: %v %q", got, tok(next))
	}
	// Fewer rows than asked and under the budget: the last page.
	got, next = Trim(small[:2], p, cursor)
	if len(got) != 2 || next != "" {
		t.Fatalf("last page: %v %q", got, next)
	}
	// The store stopped at the byte budget: a short page with a token after its last record.
	big := strings.Repeat("x", MaxPageBytes/2)
	got, next = Trim([]item{{"d", big}, {"c", big}}, p, cursor)
	if len(got) != 2 || tok(next) != "c" {
		t.Fatalf("byte budget: %v %q", len(got), tok(next))
	}
	// A single record over the budget is a page of its own.
	got, next = Trim([]item{{"d", big + big}}, p, cursor)
	if len(got) != 1 || tok(next) != "d" {
		t.Fatalf("one huge record: %v %q", len(got), tok(next))
	}
	// Without a budget (internal pages) size alone decides.
	got, next = Trim([]item{{"d", big}, {"c", big}}, store.Page{Size: 4}, cursor)
	if len(got) != 2 || next != "" {
		t.Fatalf("no budget: %v %q", len(got), next)
	}
}

func TestRecordBytes(t *testing.T) {
	t.Parallel()
	type rec struct {
		Name    string
		Payload []byte
		Headers []store.Header
		Counts  map[string]int
		Next    *string
	}
	s := "12345"
	got := store.RecordBytes(rec{Name: "ab", Payload: []byte("xyz"), Headers: []store.Header{{Name: "h", Value: "vv"}},
		Counts: map[string]int{"done": 1}, Next: &s})
	if want := store.RecordBytes(rec{}) + 2 + 3 + 3 + 4 + 5; got != want {
		t.Fatalf("RecordBytes = %d, want %d", got, want)
	}
}
