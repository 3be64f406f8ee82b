package api

import (
	"slices"
	"testing"
)

func TestCSVSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"},
		{"+1", "'+1"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"invalid account", "invalid account"},
		{"", ""},
		{"200", "200"},
	} {
		if got := csvSafe([]string{tc.in}); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("csvSafe(%q) = %q, want %q", tc.in, got[0], tc.want)
		}
	}
}
