package storesql

import (
	"context"
	"strconv"
	"strings"
	"sync"
)

// Routing a publish needs what the database holds about its targets: the explicit webhooks (findWebhooksPG) or
// the subscriptions of its event types (matchSubscriptionsPG). On PostgreSQL the last rows a lookup found are kept
// here, with a fingerprint (routeFingerprint) of them, and the next publish with the same lookup routes with them
// and writes in one statement that first runs the lookup again and writes only if its fingerprint is unchanged
// (publishCheckedPG). An entry is thus only a hint: a stale one costs a statement that writes nothing, after which
// the lookup is read afresh. Nothing has to invalidate it, in this process or any other.

// routeFingerprint is the fingerprint of the rows of the lookup l: the same rows give the same text.
const routeFingerprint = `(SELECT md5(COALESCE(string_agg(x::text, '|' ORDER BY x::text), '')) FROM l x)`

// emptyRouteFingerprint is routeFingerprint of no rows: md5 of the empty text.
const emptyRouteFingerprint = "d41d8cd98f00b204e9800998ecf8427e"

// fingerprinted is a lookup that returns its rows, each with the fingerprint of all of them in column fp.
func fingerprinted(lookup string) string {
	return `WITH l AS (` + lookup + `) SELECT l.*, ` + routeFingerprint + ` AS fp FROM l`
}

// publishCheckedPG is the statement that writes a publish routed with remembered rows: the lookup (parameters 1 to
// n) runs again, ok compares its fingerprint with parameter n+1, and the events, deliveries and queue rows
// (parameters from n+2 on, as publishAtOncePG's) are written only when it matches. It returns ok.
func publishCheckedPG(lookup string, n int) string {
	head := `l AS (` + lookup + `), ok AS (SELECT ` + routeFingerprint + ` = $` + strconv.Itoa(n+1) + ` AS ok)`
	return pgWriteChain(head, n+2, `WHERE (SELECT ok FROM ok)`, `(SELECT ok FROM ok)`, insertEvents, insertDeliveries, insertQueue)
}

// The route lookups with fingerprints, and the statements that write publishes routed with remembered rows.
var (
	findWebhooksFP       = fingerprinted(findWebhooksPG)
	matchSubscriptionsFP = fingerprinted(matchSubscriptionsPG)
	publishToWebhooksPG  = publishCheckedPG(findWebhooksPG, 2)
	publishSubscribedPG  = publishCheckedPG(matchSubscriptionsPG, 3)
)

const (
	// maxRouteCacheEntries bounds the route cache (a few hundred bytes each).
	maxRouteCacheEntries = 4096
	// Cache keys: kind, project and the lookup's lists, separated by bytes that ids and names do not contain.
	routeKeySep, routeListSep = "\x00", "\x01"
)

// routeEntry is what a lookup found, and its fingerprint.
type routeEntry struct {
	found routes
	fp    string
}

// routeCache holds the last rows of each lookup (at most maxRouteCacheEntries; it starts over when full).
type routeCache struct {
	mu sync.Mutex
	m  map[string]routeEntry
}

func (c *routeCache) get(key string) (routeEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	return e, ok
}

func (c *routeCache) put(key string, e routeEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxRouteCacheEntries {
		c.m = make(map[string]routeEntry)
	}
	c.m[key] = e
}

func (c *routeCache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

// routeLookup is one publish's lookup on PostgreSQL: its cache key, its statements and arguments.
type routeLookup struct {
	key     string
	lookup  string // the fingerprinted lookup
	publish string // publishCheckedPG of it
	args    []any
	// explicit: the rows are webhookMatch (else subscriptionMatch)
	explicit bool
}

// lookupOf returns the lookup of a publish whose events all name webhooks or all go by subscription; false for a
// batch mixing both.
func lookupOf(projectID string, q routeQuery) (routeLookup, bool) {
	switch {
	case len(q.explicit) > 0 && len(q.types) == 0:
		return routeLookup{
			key:    "w" + routeKeySep + projectID + routeKeySep + strings.Join(q.explicit, routeListSep),
			lookup: findWebhooksFP, publish: publishToWebhooksPG, args: []any{projectID, textArray(q.explicit)}, explicit: true,
		}, true
	case len(q.explicit) == 0 && len(q.types) > 0:
		return routeLookup{
			key: "s" + routeKeySep + projectID + routeKeySep + strings.Join(q.tenants, routeListSep) + routeKeySep +
				strings.Join(q.types, routeListSep),
			lookup: matchSubscriptionsFP, publish: publishSubscribedPG,
			args: []any{projectID, textArray(q.tenants), textArray(q.types)},
		}, true
	}
	return routeLookup{}, false
}

// lookupRoutes reads the rows of l and their fingerprint.
func (s *conn) lookupRoutes(ctx context.Context, l routeLookup) (routeEntry, error) {
	e := routeEntry{fp: emptyRouteFingerprint}
	if l.explicit {
		var rows []struct {
			webhookMatch
			FP string `db:"fp"`
		}
		if err := s.txSelect(ctx, nil, &rows, l.lookup, l.args...); err != nil {
			return e, wrap("find webhooks", err)
		}
		for _, r := range rows {
			e.found.webhooks, e.fp = append(e.found.webhooks, r.webhookMatch), r.FP
		}
		return e, nil
	}
	var rows []struct {
		subscriptionMatch
		FP string `db:"fp"`
	}
	if err := s.txSelect(ctx, nil, &rows, l.lookup, l.args...); err != nil {
		return e, wrap("match subscriptions", err)
	}
	for _, r := range rows {
		e.found.matches, e.fp = append(e.found.matches, r.subscriptionMatch), r.FP
	}
	return e, nil
}
