package storesql

import (
	"database/sql"
	"maps"
	"sync/atomic"
	"time"

	"github.com/hookd/hookd/internal/store"
)

// Handoff. A publish whose process runs a sender gives that sender the deliveries it queues, already claimed: their
// queue rows are inserted with the sender's claim token and due at the end of its lease (as a claim leaves them),
// and once the transaction committed the sender has them at once. A delivery of a steady trickle of events thus
// costs no claim statement, no wake-up and no NOTIFY; the queue row is the same durable record, and a crash
// before the completion leaves it to the lease's end like any claim (the built-in rescuer). The sender grants
// only the room its pool and per-webhook caps have free, and ordered deliveries held behind a predecessor are
// never handed over; the rest is queued and woken for as before.

// handoffBox holds the handoff (atomic.Pointer needs one concrete type).
type handoffBox struct{ h store.Handoff }

// handoffSlot is the conn's handoff, set while a sender of this process takes publishes' deliveries.
type handoffSlot struct{ p atomic.Pointer[handoffBox] }

// SetHandoff makes publishes of this process hand their deliveries to h (nil: stop handing over). The server sets it
// to its sender when the process runs one.
func (q *Queue) SetHandoff(h store.Handoff) {
	if h == nil {
		q.handoff.p.Store(nil)
		return
	}
	q.handoff.p.Store(&handoffBox{h: h})
}

// handing is what one transaction's publishes reserved from the handoff; finish ends it (nil-safe, once).
type handing struct {
	h        store.Handoff
	reserved []reservation
}

type reservation struct {
	granted map[string]int
	claimed []store.ClaimedDelivery
}

// handing starts a transaction's handoff, or returns nil when no sender of this process takes deliveries.
func (s *conn) handing() *handing {
	b := s.handoff.p.Load()
	if b == nil {
		return nil
	}
	return &handing{h: b.h}
}

// lease leases to the local sender the rows of queued that are due now (not held behind an ordered predecessor)
// and as many as it grants; info[i] describes queued[i]. It returns how many rows it leased.
func (hd *handing) lease(queued [][]any, info []store.ClaimedDelivery, now time.Time) int {
	if hd == nil || len(queued) == 0 {
		return 0
	}
	want := map[string]int{}
	for i, row := range queued {
		if !held(row) {
			want[info[i].WebhookID]++
		}
	}
	if len(want) == 0 {
		return 0
	}
	granted, lease := hd.h.Reserve(want)
	if len(granted) == 0 {
		return 0
	}
	r := reservation{granted: granted}
	left := maps.Clone(granted)
	leaseEnd, token := ts(now.Add(lease)), claimToken()
	for i, row := range queued {
		w := info[i].WebhookID
		if held(row) || left[w] <= 0 {
			continue
		}
		left[w]--
		row[queueDueCol], row[queueClaimTokenCol] = leaseEnd, sql.NullString{String: token, Valid: true}
		c := info[i]
		c.ClaimToken, c.LeaseEnd = token, leaseEnd
		r.claimed = append(r.claimed, c)
	}
	hd.reserved = append(hd.reserved, r)
	return len(r.claimed)
}

// held reports whether a queue row waits for an ordered predecessor.
func held(row []any) bool {
	b, _ := row[queueBlockedByCol].(sql.NullString)
	return b.Valid
}

// finish ends the reservations: the leased deliveries go to the sender when the transaction committed, the room
// goes back when it did not.
func (hd *handing) finish(committed bool) {
	if hd == nil {
		return
	}
	for _, r := range hd.reserved {
		if !committed {
			r.claimed = nil
		}
		hd.h.Hand(r.granted, r.claimed)
	}
	hd.reserved = nil
}
