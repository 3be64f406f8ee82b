// Package id makes hookd's opaque, prefixed, time-ordered ids (`wh_01J…`).
package id

import (
	"crypto/rand"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// Prefixes of each record kind.
const (
	Project      = "prj"
	APIKey       = "key"
	Integration  = "int"
	Webhook      = "wh"
	EventType    = "et"
	Subscription = "sub"
	Event        = "evt"
	Delivery     = "dlv"
	Trigger      = "trg"
	Execution    = "exe"
)

// New returns prefix + "_" + a ULID: lexical order is creation order (to the millisecond), so ids page stably.
func New(prefix string, now time.Time) string {
	return prefix + "_" + strings.ToLower(ulid.MustNew(ulid.Timestamp(now), rand.Reader).String())
}

// HasPrefix reports whether s looks like an id of the given kind.
func HasPrefix(s, prefix string) bool {
	return strings.HasPrefix(s, prefix+"_") && len(s) > len(prefix)+1
}
