package pagination

import (
	"encoding/base64"
	"testing"
)

func TestBudget(t *testing.T) {
	t.Parallel()
	items := []int{1, 2, 3, 4}
	size := func(int) int { return MaxPageBytes / 3 }
	cursor := func(i int) string { return string(rune('a' + i)) }
	got, next := Budget(items, "", size, cursor)
	if len(got) != 3 {
		t.Fatalf("kept %d items, want 3 (the budget holds three)", len(got))
	}
	if raw, _ := base64.RawURLEncoding.DecodeString(next); string(raw) != tokenPrefix+"d" {
		t.Fatalf("next token %q, want the cursor of the last kept item", raw)
	}
	// One huge item is still returned (a page is never empty).
	got, next = Budget([]int{9}, "keep", func(int) int { return 2 * MaxPageBytes }, cursor)
	if len(got) != 1 || next != "keep" {
		t.Fatalf("one big item: %v %q", got, next)
	}
	// Under the budget the page and its token are unchanged.
	got, next = Budget(items, "tok", func(int) int { return 10 }, cursor)
	if len(got) != 4 || next != "tok" {
		t.Fatalf("small items: %v %q", got, next)
	}
}
