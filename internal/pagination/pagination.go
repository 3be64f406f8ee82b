// Package pagination turns page_size/page_token into store pages and back.
package pagination

import (
	"encoding/base64"
	"strings"

	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/store"
)

// Default and maximum page sizes of every List RPC.
const (
	DefaultSize = 50
	MaxSize     = 1000
)

const tokenPrefix = "v1:"

// Parse validates page_size and page_token; the store is asked for one extra row to know if more follow, and
// to stop reading at MaxPageBytes.
func Parse(size int32, token string) (store.Page, error) {
	switch {
	case size < 0:
		return store.Page{}, apierr.Invalid("page_size", "must not be negative")
	case size == 0:
		size = DefaultSize
	case size > MaxSize:
		size = MaxSize
	}
	p := store.Page{Size: int(size) + 1, MaxBytes: MaxPageBytes}
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || !strings.HasPrefix(string(raw), tokenPrefix) || len(raw) == len(tokenPrefix) {
			return store.Page{}, apierr.Invalid("page_token", "is not a token returned by this list")
		}
		p.After = strings.TrimPrefix(string(raw), tokenPrefix)
	}
	return p, nil
}

// Trim cuts the extra row fetched by Parse and returns the items and the next page token (cursor gives the
// store cursor of an item: usually its id). A page the store stopped at the byte budget (its records reach
// p.MaxBytes by store.RecordBytes) also gets a token, after its last record. The page is measured as the store
// returned it (anything a caller adds before Trim only makes it look fuller: at worst a token leads to a short or
// empty last page, never past a record).
func Trim[T any](items []T, p store.Page, cursor func(T) string) ([]T, string) {
	want := p.Size - 1
	if len(items) > want {
		items = items[:want]
		return items, token(cursor(items[want-1]))
	}
	if p.MaxBytes > 0 && len(items) > 0 && store.PageBytes(items) >= p.MaxBytes {
		return items, token(cursor(items[len(items)-1]))
	}
	return items, ""
}

func token(cursor string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + cursor))
}

// MaxPageBytes is the byte budget of one List page (by store.RecordBytes): the store stops reading once a page's
// records reach it, and the page ends there with a next_page_token, so that large rows cannot make one response
// (or the server's memory for it) huge. Servers also cap responses with connect.WithSendMaxBytes
// (MaxResponseBytes).
const MaxPageBytes = 4 << 20

// MaxResponseBytes caps every API response (connect.WithSendMaxBytes); a page (at most MaxPageBytes and one more
// record) fits in it.
const MaxResponseBytes = 32 << 20
