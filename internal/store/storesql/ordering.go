package storesql

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Ordered delivery (Webhook.Ordered): the deliveries of one ordering key of an ordered webhook form a chain in the
// commit order of their publishes. A delivery whose predecessor is still in the queue (not DONE, FAILED or
// CANCELLED) is held: its queue row names the predecessor in blocked_by and is due at heldDue, so that the claim,
// which takes due rows only, never sees it and stays the same single statement. Whatever takes a row out of the
// queue (a completion, a callback, a cancel, retention) releases the rows it held in the same transaction: their
// due time becomes their next attempt time. A retrying head therefore holds back its own key only.
//
// Publish order across concurrent transactions: a publish upserts its keys' rows in ordering_keys (locking them
// until it commits), which hands back the previous tail of each chain. On PostgreSQL it then locks the tails' queue
// rows (FOR KEY SHARE): a completion that deleted a tail first makes the publish wait and then see it gone (the new
// delivery is not held); a publish that locked it first makes the completion's DELETE wait, and the completion's
// release, a later statement of its transaction, then sees the new follower. SQLite has one writer at a time.
//
// A manual resend (RetryDelivery) of a DONE or FAILED delivery is sent at once, outside its key's order: it is
// never held and never holds back the key (tails are only waited for while on their first run, resends = 0).

var (
	// heldDue is the due time of a held queue row.
	heldDue = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	// heldAfter is a bound below heldDue and above any real due time: "due_time < heldAfter" excludes held rows.
	heldAfter = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
)

// chainLink is a new delivery of an ordered webhook with an ordering key; row is its index in the queue rows of
// the publish.
type chainLink struct {
	webhookID, key, deliveryID string
	row                        int
}

// Column indexes in a queueArgs row.
const (
	queueDueCol        = 7
	queueBlockedByCol  = 9
	queueClaimTokenCol = 10
)

// chain puts the links at the end of their keys' chains, in order, and holds (in queued) those whose predecessor
// is still in the queue.
func (s *conn) chain(ctx context.Context, tx *sqlx.Tx, links []chainLink, queued [][]any) error {
	if len(links) == 0 {
		return nil
	}
	type keyChain struct {
		webhookID, key string
		links          []chainLink
	}
	byKey := map[[2]string]*keyChain{}
	var chains []*keyChain
	for _, l := range links {
		k := [2]string{l.webhookID, l.key}
		c := byKey[k]
		if c == nil {
			c = &keyChain{webhookID: l.webhookID, key: l.key}
			byKey[k], chains = c, append(chains, c)
		}
		c.links = append(c.links, l)
	}
	// Lock the keys in one order in every publish (no deadlock between two publishes of the same keys).
	slices.SortFunc(chains, func(a, b *keyChain) int {
		return cmp.Or(strings.Compare(a.webhookID, b.webhookID), strings.Compare(a.key, b.key))
	})
	hold := func(l chainLink, predecessor string) {
		queued[l.row][queueDueCol] = heldDue
		queued[l.row][queueBlockedByCol] = sql.NullString{String: predecessor, Valid: true}
	}
	var tails []string
	tailOf := map[[2]string]string{}
	for chunk := range slices.Chunk(chains, deliveryChunk) {
		rows := make([][]any, len(chunk))
		for i, c := range chunk {
			rows[i] = []any{c.webhookID, c.key, c.links[len(c.links)-1].deliveryID}
			for j := 1; j < len(c.links); j++ { // later links of the same key in this publish wait for the earlier
				hold(c.links[j], c.links[j-1].deliveryID)
			}
		}
		q, args := valuesQuery(`INSERT INTO ordering_keys (webhook_id, ordering_key, last_delivery_id) VALUES `, rows,
			` ON CONFLICT (webhook_id, ordering_key) DO UPDATE SET previous_delivery_id = ordering_keys.last_delivery_id,
				last_delivery_id = excluded.last_delivery_id
			RETURNING webhook_id, ordering_key, previous_delivery_id`)
		var prev []struct {
			WebhookID string `db:"webhook_id"`
			Key       string `db:"ordering_key"`
			Previous  string `db:"previous_delivery_id"`
		}
		// (tx.SelectContext, not txSelect: the text varies with the number of keys, and preparing it on SQLite would
		// take a second connection from the pool while this transaction holds the write lock.)
		if err := tx.SelectContext(ctx, &prev, s.rebind(q), args...); err != nil {
			return wrap("publish events: chain ordered deliveries", err)
		}
		for _, p := range prev {
			if p.Previous != "" {
				tailOf[[2]string{p.WebhookID, p.Key}] = p.Previous
				tails = append(tails, p.Previous)
			}
		}
	}
	if len(tails) == 0 {
		return nil
	}
	lock := ""
	if s.pg() {
		lock = " FOR KEY SHARE"
	}
	waiting := map[string]bool{}
	for chunk := range slices.Chunk(tails, eventChunk) {
		q, args, err := s.in(`SELECT delivery_id FROM delivery_queue WHERE delivery_id IN (?) AND resends = 0`+lock, chunk)
		if err != nil {
			return err
		}
		var ids []string
		if err := tx.SelectContext(ctx, &ids, q, args...); err != nil {
			return wrap("publish events: find unfinished predecessors", err)
		}
		for _, id := range ids {
			waiting[id] = true
		}
	}
	for _, c := range chains {
		if tail := tailOf[[2]string{c.webhookID, c.key}]; waiting[tail] {
			hold(c.links[0], tail)
		}
	}
	return nil
}

const (
	// releaseHeld makes the rows held by deliveries that left the queue due; releaseHeldPG is it with the
	// candidates in one array (a fixed text, prepared: it runs with every completion).
	releaseHeld = `UPDATE delivery_queue SET blocked_by = NULL, due_time = next_attempt_time
		WHERE blocked_by IN (?) AND NOT EXISTS (SELECT 1 FROM delivery_queue p WHERE p.delivery_id = delivery_queue.blocked_by)`
	releaseHeldPG = `UPDATE delivery_queue SET blocked_by = NULL, due_time = next_attempt_time
		WHERE blocked_by = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM delivery_queue p WHERE p.delivery_id = delivery_queue.blocked_by)`
)

// release makes the queue rows held by deliveries that left the queue due (at their next attempt time); the
// candidates are the deliveries of ids. It reports how many rows it released.
func (s *conn) release(ctx context.Context, tx *sqlx.Tx, ids []string) (int64, error) {
	var n int64
	for chunk := range slices.Chunk(ids, eventChunk) {
		q, args, err := s.inList(releaseHeld, releaseHeldPG, chunk)
		if err != nil {
			return n, err
		}
		var res sql.Result
		if s.pg() {
			res, err = s.txExec(ctx, tx, q, args...)
		} else {
			res, err = tx.ExecContext(ctx, q, args...) // (a text per list length: not for the statement cache)
		}
		if err != nil {
			return n, wrap("release ordered deliveries", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return n, wrap("release ordered deliveries", err)
		}
		n += k
	}
	return n, nil
}

// releaseOrphans releases every held row whose predecessor is no longer in the queue (after a bulk removal such as
// retention's).
func (s *conn) releaseOrphans(ctx context.Context, q queryer) error {
	_, err := q.ExecContext(ctx, s.rebind(`UPDATE delivery_queue SET blocked_by = NULL, due_time = next_attempt_time
		WHERE blocked_by IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM delivery_queue p WHERE p.delivery_id = delivery_queue.blocked_by)`))
	return wrap("release ordered deliveries", err)
}

// heldPredecessors adds to held the predecessors of the held, unclaimed rows among ids (the rows settle removes).
func (s *conn) heldPredecessors(ctx context.Context, tx *sqlx.Tx, ids []string, held map[string]string) error {
	q, args, err := s.in(`SELECT delivery_id, blocked_by FROM delivery_queue
		WHERE claim_token IS NULL AND blocked_by IS NOT NULL AND delivery_id IN (?)`, ids)
	if err != nil {
		return err
	}
	var rows []struct {
		ID        string `db:"delivery_id"`
		BlockedBy string `db:"blocked_by"`
	}
	if err := tx.SelectContext(ctx, &rows, q, args...); err != nil {
		return wrap("find held deliveries", err)
	}
	for _, r := range rows {
		held[r.ID] = r.BlockedBy
	}
	return nil
}

// skip makes the followers of held rows that left the queue (a cancelled delivery that was waiting for its
// predecessor) wait for that predecessor instead, while it is still in the queue (else release frees them). The
// predecessor's row is locked first (FOR KEY SHARE on PostgreSQL), as a publish locks a chain's tail, so that a
// completion removing it concurrently either comes first (it is gone here) or sees the re-pointed followers.
func (s *conn) skip(ctx context.Context, tx *sqlx.Tx, held map[string]string) error {
	lock := ""
	if s.pg() {
		lock = " FOR KEY SHARE"
	}
	for gone, pred := range held {
		for i := 0; i < len(held); i++ { // a predecessor that went too: follow the chain back
			p, ok := held[pred]
			if !ok {
				break
			}
			pred = p
		}
		var n []int
		if err := s.txSelect(ctx, tx, &n, s.rebind(`SELECT 1 FROM delivery_queue WHERE delivery_id = ?`+lock), pred); err != nil {
			return wrap("lock predecessor", err)
		}
		if len(n) == 0 {
			continue
		}
		if _, err := s.txExec(ctx, tx, s.rebind(`UPDATE delivery_queue SET blocked_by = ? WHERE blocked_by = ?`), pred, gone); err != nil {
			return wrap("skip cancelled ordered delivery", err)
		}
	}
	return nil
}
