// Package id makes hookd's opaque, prefixed, time-ordered ids (`wh_01J…`).
package id

import (
	"crypto/rand"
	"strings"
	"sync"
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
	// PortalSession prefixes portal session ids.
	PortalSession = "ps"
)

// entropy makes ids made in the same millisecond by this process strictly increasing (ULID monotonic mode),
// so a newer record never sorts before an older one of the same process; the mutex makes it safe to share.
var (
	entropyMu sync.Mutex
	entropy   = ulid.Monotonic(rand.Reader, 0)
)

// New returns prefix + "_" + a ULID: lexical order is creation order (to the millisecond across processes,
// strictly within one), so ids page stably.
func New(prefix string, now time.Time) string {
	entropyMu.Lock()
	u, err := ulid.New(ulid.Timestamp(now), entropy)
	entropyMu.Unlock()
	if err != nil { // monotonic overflow within one millisecond: start from fresh randomness
		u = ulid.MustNew(ulid.Timestamp(now), rand.Reader)
	}
	return prefix + "_" + strings.ToLower(u.String())
}

// HasPrefix reports whether s looks like an id of the given kind.
func HasPrefix(s, prefix string) bool {
	return strings.HasPrefix(s, prefix+"_") && len(s) > len(prefix)+1
}
