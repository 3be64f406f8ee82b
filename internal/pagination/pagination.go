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

// Parse validates page_size and page_token; the store is asked for one extra row to know if more follow.
func Parse(size int32, token string) (store.Page, error) {
	switch {
	case size < 0:
		return store.Page{}, apierr.Invalid("page_size", "must not be negative")
	case size == 0:
		size = DefaultSize
	case size > MaxSize:
		size = MaxSize
	}
	p := store.Page{Size: int(size) + 1}
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || !strings.HasPrefix(string(raw), tokenPrefix) || len(raw) == len(tokenPrefix) {
			return store.Page{}, apierr.Invalid("page_token", "is not a token returned by this list")
		}
		p.After = strings.TrimPrefix(string(raw), tokenPrefix)
	}
	return p, nil
}

// Trim cuts the extra row fetched by Parse and returns the items and the next page token
// (cursor gives the store cursor of an item: usually its id).
func Trim[T any](items []T, p store.Page, cursor func(T) string) ([]T, string) {
	want := p.Size - 1
	if len(items) <= want {
		return items, ""
	}
	items = items[:want]
	return items, base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + cursor(items[want-1])))
}

// MaxPageBytes is the byte budget of one List page: a page stops early (with a next_page_token) once its items
// reach it, so that large rows cannot make one response huge. Servers also cap responses with
// connect.WithSendMaxBytes (MaxResponseBytes).
const MaxPageBytes = 4 << 20

// MaxResponseBytes caps every API response (connect.WithSendMaxBytes); a single item larger than MaxPageBytes still
// fits in it.
const MaxResponseBytes = 32 << 20

// Budget keeps the leading items whose sizes add up to at most MaxPageBytes (always at least one) and returns
// them with the next page token: the token after the last kept item when the page was cut, else next.
func Budget[T any](items []T, next string, size func(T) int, cursor func(T) string) ([]T, string) {
	total := 0
	for i, it := range items {
		total += size(it)
		if total > MaxPageBytes && i > 0 {
			return items[:i], base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + cursor(items[i-1])))
		}
	}
	return items, next
}
