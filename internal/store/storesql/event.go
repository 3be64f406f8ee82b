package storesql

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/internal/filter"
	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/store"
)

const (
	eventCols = `id, project_id, event_type, subject, payload, idempotency_key, create_time, traceparent, tracestate, tenant_id`

	// matchSubscriptions finds the enabled subscriptions for a set of event types and tenants ('' = the project's own
	// webhooks), with their webhooks' state: a disabled webhook gets its deliveries FAILED at once ("webhook
	// disabled"), which replay_missed re-queues.
	matchSubscriptions = `SELECT se.event_type, se.tenant_id, s.subject_filter, s.filter, s.webhook_id,
			COALESCE(w.integration_id, '') AS integration_id, w.enabled, w.ordered
		FROM subscription_event_types se
		JOIN subscriptions s ON s.id = se.subscription_id
		JOIN webhooks w ON w.id = s.webhook_id
		WHERE se.project_id = ? AND se.tenant_id IN (?) AND se.event_type IN (?) AND s.enabled = TRUE
		ORDER BY s.webhook_id`

	// matchSubscriptionsPG is matchSubscriptions with the tenants and event types in arrays: a fixed text to prepare.
	matchSubscriptionsPG = `SELECT se.event_type, se.tenant_id, s.subject_filter, s.filter, s.webhook_id,
			COALESCE(w.integration_id, '') AS integration_id, w.enabled, w.ordered
		FROM subscription_event_types se
		JOIN subscriptions s ON s.id = se.subscription_id
		JOIN webhooks w ON w.id = s.webhook_id
		WHERE se.project_id = $1 AND se.tenant_id = ANY($2::text[]) AND se.event_type = ANY($3::text[]) AND s.enabled = TRUE
		ORDER BY s.webhook_id`

	// findWebhooks finds the explicit webhooks of a publish (their integrations and state).
	findWebhooks   = `SELECT id, COALESCE(integration_id, '') AS integration_id, enabled, tenant_id, ordered FROM webhooks WHERE project_id = ? AND id IN (?)`
	findWebhooksPG = `SELECT id, COALESCE(integration_id, '') AS integration_id, enabled, tenant_id, ordered FROM webhooks WHERE project_id = $1 AND id = ANY($2::text[])`

	// eventReadCols are the columns GetEvent and ListEvents read.
	eventReadCols = eventCols + `, payload_expired`

	eventDeliveryIDs = `SELECT event_id, id FROM deliveries WHERE event_id IN (?) ORDER BY id`

	eventCounts = `SELECT event_id, status, COUNT(*) AS n FROM deliveries WHERE event_id IN (?) GROUP BY event_id, status`
)

var (
	insertEvents = newBulkInsert(bulkInsert{
		into:    `INSERT INTO events (` + eventCols + `)`,
		pgTypes: []string{"text", "text", "text", "text", "json", "text", "timestamptz", "text", "text", "text"},
	})
	// insertKeys skips keys that a concurrent publish took first; the caller then returns that publish's result.
	insertKeys = newBulkInsert(bulkInsert{
		into:    `INSERT INTO idempotency_keys (project_id, key, event_id, create_time)`,
		pgTypes: []string{"text", "text", "text", "timestamptz"},
		suffix:  ` ON CONFLICT (project_id, key) DO NOTHING RETURNING key`,
	})
	insertDeliveries = newBulkInsert(bulkInsert{
		into: `INSERT INTO deliveries (id, project_id, event_id, webhook_id, integration_id, event_type, subject, status,
			reason, create_time, update_time, tenant_id, ordering_key)`,
		pgTypes: []string{"text", "text", "text", "text", "text", "text", "text", "text", "text", "timestamptz", "timestamptz",
			"text", "text"},
	})
)

// Rows per multi-row INSERT (well under both dialects' bind parameter limits).
const (
	eventChunk    = 500
	deliveryChunk = 500
)

type eventRow struct {
	ID             string   `db:"id"`
	ProjectID      string   `db:"project_id"`
	EventType      string   `db:"event_type"`
	Subject        string   `db:"subject"`
	Payload        jsonText `db:"payload"`
	IdempotencyKey string   `db:"idempotency_key"`
	CreateTime     dbTime   `db:"create_time"`
	TraceParent    string   `db:"traceparent"`
	TraceState     string   `db:"tracestate"`
	// PayloadExpired is read where eventReadCols is selected (it is not among the inserted eventCols).
	PayloadExpired bool   `db:"payload_expired"`
	TenantID       string `db:"tenant_id"`
}

func (r eventRow) record() store.Event {
	return store.Event{
		ID: r.ID, ProjectID: r.ProjectID, EventType: r.EventType, Subject: r.Subject, Payload: r.Payload.raw(),
		IdempotencyKey: r.IdempotencyKey, CreateTime: r.CreateTime.t,
		Trace:          store.TraceContext{Parent: r.TraceParent, State: r.TraceState},
		PayloadExpired: r.PayloadExpired,
		TenantID:       r.TenantID,
	}
}

// PublishEvents stores events and their QUEUED deliveries (due now) in one transaction and wakes senders (or hands
// the deliveries to the sender of this process, see handoff.go).
// An idempotency key used in the project within idempotencyWindow returns the first result (Duplicate).
// Explicit WebhookIDs must all be webhooks of the project (ErrNotFound otherwise); they bypass subscriptions.
func (s *Store) PublishEvents(ctx context.Context, p store.PublishEventsParams) ([]store.PublishResult, error) {
	if out, done, err := s.publishAtOnce(ctx, p); done {
		return out, err
	}
	projectID, in, now, idempotencyWindow := p.ProjectID, p.Events, p.Now, p.IdempotencyWindow
	var out []store.PublishResult
	var woke bool
	var hd *handing
	err := s.inPartitionedTx(ctx, []time.Time{now}, func(tx *sqlx.Tx) error {
		hd.finish(false) // (an earlier try's, rolled back)
		hd = s.handing()
		var err error
		out, woke, err = s.publish(ctx, tx, hd, projectID, in, ts(now), idempotencyWindow)
		return err
	})
	hd.finish(err == nil)
	if err != nil {
		return nil, err
	}
	if woke {
		s.wake(now)
	}
	return out, nil
}

// target is a webhook an event goes to.
type target struct {
	webhookID     string
	integrationID string
	disabled      bool
	// tenantID is the webhook's tenant (the delivery's).
	tenantID string
	// ordered: the webhook delivers each ordering key one at a time.
	ordered bool
}

// subscriptionMatch is one (event type, subscription) pair of matchSubscriptions.
type subscriptionMatch struct {
	EventType     string `db:"event_type"`
	TenantID      string `db:"tenant_id"`
	SubjectFilter string `db:"subject_filter"`
	Filter        string `db:"filter"`
	WebhookID     string `db:"webhook_id"`
	IntegrationID string `db:"integration_id"`
	Enabled       bool   `db:"enabled"`
	Ordered       bool   `db:"ordered"`
}

// publish is PublishEvents inside tx; it reports whether deliveries were queued for senders to claim (to wake them).
// With hd, the deliveries the local sender grants room for are leased to it (see handoff.go).
func (s *conn) publish(ctx context.Context, tx *sqlx.Tx, hd *handing, projectID string, in []store.PublishInput, now time.Time, window time.Duration) ([]store.PublishResult, bool, error) {
	results := make([]store.PublishResult, len(in))
	firstOfKey := map[string]int{} // idempotency key → index of its first use in this batch
	sameAs := make([]int, len(in)) // index of the earlier input with the same key, or -1
	var keys []string
	for i, p := range in {
		sameAs[i] = -1
		if k := p.Event.IdempotencyKey; k != "" {
			if j, ok := firstOfKey[k]; ok {
				sameAs[i] = j
				continue
			}
			firstOfKey[k] = i
			keys = append(keys, k)
		}
	}

	stored, err := s.claimIdempotencyKeys(ctx, tx, projectID, keys, now, window)
	if err != nil {
		return nil, false, err
	}

	// New events and the inputs they came from.
	var fresh []int
	for i, p := range in {
		if sameAs[i] >= 0 {
			continue
		}
		if ev, ok := stored[p.Event.IdempotencyKey]; ok && p.Event.IdempotencyKey != "" {
			results[i] = store.PublishResult{Event: ev, Duplicate: true}
			continue
		}
		results[i] = store.PublishResult{Event: newEvent(p, projectID, now)}
		fresh = append(fresh, i)
	}

	// Take the keys; those a concurrent publish took first become duplicates of it.
	taken, err := s.insertKeys(ctx, tx, results, fresh)
	if err != nil {
		return nil, false, err
	}
	var raced []string
	kept := fresh[:0:0]
	for _, i := range fresh {
		if k := results[i].Event.IdempotencyKey; k == "" || taken[k] {
			kept = append(kept, i)
		} else {
			raced = append(raced, k)
		}
	}
	fresh = kept
	if len(raced) > 0 {
		won, err := s.eventsByKey(ctx, tx, projectID, raced)
		if err != nil {
			return nil, false, err
		}
		for _, k := range raced {
			ev, ok := won[k]
			if !ok {
				return nil, false, fmt.Errorf("publish events: idempotency key %q changed hands concurrently: %w", k, store.ErrConflict)
			}
			results[firstOfKey[k]] = store.PublishResult{Event: ev, Duplicate: true}
		}
	}
	if err := s.insertEvents(ctx, tx, results, fresh); err != nil {
		return nil, false, err
	}

	// Deliveries of the new events, and their queue rows.
	targets, err := s.publishTargets(ctx, tx, projectID, in, results, fresh)
	if err != nil {
		return nil, false, err
	}
	d := newDeliveriesOf(projectID, results, fresh, targets, now, hd != nil)
	rows, queued, claims, missed, chained := d.rows, d.queued, d.claims, d.missed, d.chained
	if err := s.chain(ctx, tx, chained, queued); err != nil {
		return nil, false, err
	}
	handed := hd.lease(queued, claims, now)
	if err := s.countStats(ctx, tx, now, missed); err != nil {
		return nil, false, err
	}
	for chunk := range slices.Chunk(rows, deliveryChunk) {
		q, args, err := insertDeliveries.query(s.pg(), chunk)
		if err != nil {
			return nil, false, err
		}
		if _, err := s.txExec(ctx, tx, q, args...); err != nil {
			return nil, false, wrap("insert deliveries", err)
		}
	}
	if err := s.enqueue(ctx, tx, queued); err != nil {
		return nil, false, err
	}
	if s.feed.active.Load() {
		for _, i := range fresh {
			s.note(tx, projectID, store.ChangeCreated, now, results[i].DeliveryIDs...)
		}
	}

	// Duplicates answer with the deliveries of the first publish.
	var dupIDs []string
	for i := range results {
		if results[i].Duplicate {
			dupIDs = append(dupIDs, results[i].Event.ID)
		}
	}
	if len(dupIDs) > 0 {
		ids, err := s.deliveryIDsOf(ctx, tx, dupIDs)
		if err != nil {
			return nil, false, err
		}
		for i := range results {
			if results[i].Duplicate {
				results[i].DeliveryIDs = ids[results[i].Event.ID]
			}
		}
	}
	for i, j := range sameAs {
		if j >= 0 {
			results[i] = results[j]
			results[i].Duplicate = true
			results[i].DeliveryIDs = slices.Clone(results[j].DeliveryIDs)
		}
	}

	return results, len(queued) > handed, nil
}

// claimIdempotencyKeys returns the events that hold keys within the window and frees the keys of older
// events (so that they can be taken again).
func (s *conn) claimIdempotencyKeys(ctx context.Context, tx *sqlx.Tx, projectID string, keys []string, now time.Time, window time.Duration) (map[string]store.Event, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	found, err := s.eventsByKey(ctx, tx, projectID, keys)
	if err != nil {
		return nil, err
	}
	var expired []string
	for k, ev := range found {
		if window <= 0 || ev.CreateTime.Before(now.Add(-window)) {
			expired = append(expired, k)
			delete(found, k)
		}
	}
	if len(expired) > 0 {
		q, args, err := s.in(`DELETE FROM idempotency_keys WHERE project_id = ? AND key IN (?)`, projectID, expired)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return nil, wrap("release idempotency keys", err)
		}
	}
	return found, nil
}

// eventsByKey returns the project's events holding the idempotency keys (keys whose event is gone are left out).
func (s *conn) eventsByKey(ctx context.Context, tx *sqlx.Tx, projectID string, keys []string) (map[string]store.Event, error) {
	out := map[string]store.Event{}
	for chunk := range slices.Chunk(keys, eventChunk) {
		q, args, err := s.in(`SELECT k.key, e.id, e.project_id, e.event_type, e.subject, e.payload, e.idempotency_key,
				e.create_time, e.tenant_id
			FROM idempotency_keys k JOIN events e ON e.id = k.event_id
			WHERE k.project_id = ? AND k.key IN (?)`, projectID, chunk)
		if err != nil {
			return nil, err
		}
		var rows []struct {
			Key string `db:"key"`
			eventRow
		}
		if err := tx.SelectContext(ctx, &rows, q, args...); err != nil {
			return nil, wrap("find idempotency keys", err)
		}
		for _, r := range rows {
			out[r.Key] = r.record()
		}
	}
	return out, nil
}

// insertKeys takes the idempotency keys of results[fresh] and returns the keys it got.
func (s *conn) insertKeys(ctx context.Context, tx *sqlx.Tx, results []store.PublishResult, fresh []int) (map[string]bool, error) {
	var rows [][]any
	for _, i := range fresh {
		if ev := results[i].Event; ev.IdempotencyKey != "" {
			rows = append(rows, []any{ev.ProjectID, ev.IdempotencyKey, ev.ID, ev.CreateTime})
		}
	}
	taken := make(map[string]bool, len(rows))
	for chunk := range slices.Chunk(rows, eventChunk) {
		q, args, err := insertKeys.query(s.pg(), chunk)
		if err != nil {
			return nil, err
		}
		var keys []string
		if err := s.txSelect(ctx, tx, &keys, q, args...); err != nil {
			return nil, wrap("insert idempotency keys", err)
		}
		for _, k := range keys {
			taken[k] = true
		}
	}
	return taken, nil
}

// insertEvents inserts the events of results[fresh].
func (s *conn) insertEvents(ctx context.Context, tx *sqlx.Tx, results []store.PublishResult, fresh []int) error {
	for chunk := range slices.Chunk(fresh, eventChunk) {
		q, args, err := insertEvents.query(s.pg(), eventRows(results, chunk))
		if err != nil {
			return err
		}
		if _, err := s.txExec(ctx, tx, q, args...); err != nil {
			return wrap("insert events", err)
		}
	}
	return nil
}

// publishTargets returns, per input index in fresh, the webhooks to deliver to: the explicit WebhookIDs,
// else one per webhook with a matching enabled subscription. An event of tenant T reaches T's webhooks and the
// project's own (no tenant), never another tenant's; an explicit webhook of another tenant is ErrWrongTenant.
// With tx nil it reads outside a transaction.
func (s *conn) publishTargets(ctx context.Context, tx *sqlx.Tx, projectID string, in []store.PublishInput, results []store.PublishResult, fresh []int) (map[int][]target, error) {
	q := routeQueryOf(projectID, in, results, fresh)
	var found routes
	for chunk := range slices.Chunk(q.explicit, eventChunk) {
		qt, args, err := s.inList(findWebhooks, findWebhooksPG, chunk, projectID)
		if err != nil {
			return nil, err
		}
		var rows []webhookMatch
		if err := s.txSelect(ctx, tx, &rows, qt, args...); err != nil {
			return nil, wrap("find webhooks", err)
		}
		found.webhooks = append(found.webhooks, rows...)
	}
	if len(q.types) > 0 {
		var qt string
		var args []any
		if s.pg() {
			qt, args = matchSubscriptionsPG, []any{projectID, textArray(q.tenants), textArray(q.types)}
		} else {
			var err error
			if qt, args, err = s.in(matchSubscriptions, projectID, q.tenants, q.types); err != nil {
				return nil, err
			}
		}
		if err := s.txSelect(ctx, tx, &found.matches, qt, args...); err != nil {
			return nil, wrap("match subscriptions", err)
		}
	}
	return s.route(in, results, fresh, found)
}

// routeQuery is what a publish looks up to route its events: the explicit webhooks, and the subscriptions of the
// event types (with "*") for the tenants ("" and the events' own).
type routeQuery struct {
	explicit, types, tenants []string
}

func routeQueryOf(projectID string, in []store.PublishInput, results []store.PublishResult, fresh []int) routeQuery {
	var q routeQuery
	q.tenants = []string{""}
	for _, i := range fresh {
		if len(in[i].WebhookIDs) > 0 {
			q.explicit = append(q.explicit, in[i].WebhookIDs...)
		} else {
			q.types = append(q.types, results[i].Event.EventType)
			if t := results[i].Event.TenantID; t != "" {
				q.tenants = append(q.tenants, t)
			}
		}
	}
	q.explicit, q.types, q.tenants = dedupe(q.explicit), dedupe(q.types), dedupe(q.tenants)
	if len(q.types) > 0 {
		q.types = append(q.types, AllEventTypes)
	}
	return q
}

// webhookMatch is one row of findWebhooks.
type webhookMatch struct {
	ID            string `db:"id"`
	IntegrationID string `db:"integration_id"`
	Enabled       bool   `db:"enabled"`
	TenantID      string `db:"tenant_id"`
	Ordered       bool   `db:"ordered"`
}

// routes are the rows a publish's routeQuery found.
type routes struct {
	webhooks []webhookMatch
	matches  []subscriptionMatch
}

// route applies the publish's routing rules to the rows found (see publishTargets).
func (s *conn) route(in []store.PublishInput, results []store.PublishResult, fresh []int, found routes) (map[int][]target, error) {
	webhooks := make(map[string]target, len(found.webhooks)) // explicit webhook id → target
	for _, r := range found.webhooks {
		webhooks[r.ID] = target{webhookID: r.ID, integrationID: r.IntegrationID, disabled: !r.Enabled, tenantID: r.TenantID, ordered: r.Ordered}
	}
	for _, i := range fresh {
		for _, w := range in[i].WebhookIDs {
			if _, ok := webhooks[w]; !ok {
				return nil, fmt.Errorf("publish events: webhook %q: %w", w, store.ErrNotFound)
			}
		}
	}
	byType := map[string][]subscriptionMatch{}
	for _, m := range found.matches {
		byType[m.EventType] = append(byType[m.EventType], m)
	}

	out := make(map[int][]target, len(fresh))
	for _, i := range fresh {
		seen := map[string]bool{}
		add := func(t target) {
			if !seen[t.webhookID] {
				seen[t.webhookID] = true
				out[i] = append(out[i], t)
			}
		}
		ev := results[i].Event
		if len(in[i].WebhookIDs) > 0 {
			for _, w := range in[i].WebhookIDs {
				if t := webhooks[w]; t.tenantID != "" && t.tenantID != ev.TenantID {
					return nil, fmt.Errorf("publish events: webhook %q: %w", w, store.ErrWrongTenant)
				}
				add(webhooks[w])
			}
			continue
		}
		matches := byType[ev.EventType]
		if !health.IsOperational(ev.EventType) { // "*" takes every event but the operational ones
			matches = append(matches, byType[AllEventTypes]...)
		}
		var fvars *filter.Vars // made once per event, when a filter needs them
		for _, m := range matches {
			if m.TenantID != "" && m.TenantID != ev.TenantID {
				continue // another event of the batch is this tenant's
			}
			if m.SubjectFilter != "" && m.SubjectFilter != ev.Subject || seen[m.WebhookID] {
				continue
			}
			if m.Filter != "" {
				if fvars == nil {
					v := filter.VarsOf(filter.Event{Type: ev.EventType, Subject: ev.Subject, TenantID: ev.TenantID, Data: filter.Decode(ev.Payload)})
					fvars = &v
				}
				if !s.filters.MatchVars(m.Filter, *fvars) {
					continue
				}
			}
			add(target{webhookID: m.WebhookID, integrationID: m.IntegrationID, disabled: !m.Enabled, tenantID: m.TenantID,
				ordered: m.Ordered})
		}
		slices.SortFunc(out[i], func(a, b target) int { return strings.Compare(a.webhookID, b.webhookID) })
	}
	return out, nil
}

// deliveryIDsOf returns the delivery ids of each event, oldest first.
func (s *conn) deliveryIDsOf(ctx context.Context, q queryer, eventIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	for chunk := range slices.Chunk(eventIDs, eventChunk) {
		query, args, err := s.in(eventDeliveryIDs, chunk)
		if err != nil {
			return nil, err
		}
		var rows []struct {
			EventID string `db:"event_id"`
			ID      string `db:"id"`
		}
		if err := q.SelectContext(ctx, &rows, query, args...); err != nil {
			return nil, wrap("list event deliveries", err)
		}
		for _, r := range rows {
			out[r.EventID] = append(out[r.EventID], r.ID)
		}
	}
	return out, nil
}

// valuesQuery builds prefix + "(?, …), (?, …)" + suffix and its flattened arguments.
func valuesQuery(prefix string, rows [][]any, suffix string) (string, []any) {
	var b strings.Builder
	b.WriteString(prefix)
	args := make([]any, 0, len(rows)*len(rows[0]))
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(rows[0])), ", ") + ")"
	for n, r := range rows {
		if n > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
		args = append(args, r...)
	}
	b.WriteString(suffix)
	return b.String(), args
}

// GetEvent returns an event of the project with its delivery counts.
func (s *Store) GetEvent(ctx context.Context, projectID, eventID string) (*store.Event, error) {
	var r eventRow
	if err := s.db.GetContext(ctx, &r, s.rebind(`SELECT `+eventReadCols+` FROM events WHERE project_id = ? AND id = ?`),
		projectID, eventID); err != nil {
		return nil, wrap("get event", err)
	}
	events := []store.Event{r.record()}
	if err := s.fillCounts(ctx, events); err != nil {
		return nil, err
	}
	return &events[0], nil
}

// ListEvents lists a project's events, newest first, with their delivery counts.
func (s *Store) ListEvents(ctx context.Context, projectID string, f store.EventFilter, page store.Page) ([]store.Event, error) {
	where, args := []string{"project_id = ?"}, []any{projectID}
	if f.EventType != "" {
		where, args = append(where, "event_type = ?"), append(args, f.EventType)
	}
	if f.Subject != "" {
		where, args = append(where, "subject = ?"), append(args, f.Subject)
	}
	if f.TenantID != "" {
		where, args = append(where, "tenant_id = ?"), append(args, f.TenantID)
	}
	if !f.CreateAfter.IsZero() {
		where, args = append(where, "create_time >= ?"), append(args, ts(f.CreateAfter))
	}
	if !f.CreateBefore.IsZero() {
		where, args = append(where, "create_time < ?"), append(args, ts(f.CreateBefore))
	}
	events, err := list(ctx, s, eventReadCols, "events", where, args, page, noErr(eventRow.record))
	if err != nil {
		return nil, wrap("list events", err)
	}
	if err := s.fillCounts(ctx, events); err != nil {
		return nil, err
	}
	return events, nil
}

// fillCounts sets each event's delivery counts by status.
func (s *Store) fillCounts(ctx context.Context, events []store.Event) error {
	if len(events) == 0 {
		return nil
	}
	byID := make(map[string]*store.Event, len(events))
	ids := make([]string, len(events))
	for i := range events {
		events[i].Counts = store.DeliveryCounts{}
		byID[events[i].ID] = &events[i]
		ids[i] = events[i].ID
	}
	q, args, err := s.in(eventCounts, ids)
	if err != nil {
		return err
	}
	var rows []struct {
		EventID string `db:"event_id"`
		Status  string `db:"status"`
		N       int    `db:"n"`
	}
	if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return wrap("count deliveries", err)
	}
	for _, r := range rows {
		byID[r.EventID].Counts[store.Status(r.Status)] = r.N
	}
	return nil
}

// newDeliveries are the rows a publish writes for the new events results[fresh]: deliveries (log), queue rows, and
// what each queue row is as a claimed delivery (with claims, for the handoff).
type newDeliveries struct {
	rows, queued [][]any
	claims       []store.ClaimedDelivery // claims[i] is queued[i] (with claims)
	missed       []change                // deliveries failed at once (disabled webhooks), for the books
	chained      []chainLink             // deliveries of ordered webhooks with an ordering key
}

func newDeliveriesOf(projectID string, results []store.PublishResult, fresh []int, targets map[int][]target, now time.Time, claims bool) newDeliveries {
	var d newDeliveries
	for _, i := range fresh {
		ev := results[i].Event
		for _, t := range targets[i] {
			dlv := id.New(id.Delivery, now)
			results[i].DeliveryIDs = append(results[i].DeliveryIDs, dlv)
			if t.disabled { // failed at once; re-queued by replay_missed when the webhook is enabled again
				d.rows = append(d.rows, []any{dlv, projectID, ev.ID, t.webhookID, t.integrationID, ev.EventType, ev.Subject,
					string(store.StatusFailed), health.FailWebhookDisabled.String(), now, now, t.tenantID, ev.OrderingKey})
				d.missed = append(d.missed, change{deliveryID: dlv, projectID: projectID, webhookID: t.webhookID, eventID: ev.ID,
					eventType: ev.EventType, subject: ev.Subject, status: store.StatusFailed, reason: health.FailWebhookDisabled.String()})
				continue
			}
			d.rows = append(d.rows, []any{dlv, projectID, ev.ID, t.webhookID, t.integrationID, ev.EventType, ev.Subject,
				string(store.StatusQueued), "", now, now, t.tenantID, ev.OrderingKey})
			if t.ordered && ev.OrderingKey != "" {
				d.chained = append(d.chained, chainLink{webhookID: t.webhookID, key: ev.OrderingKey, deliveryID: dlv, row: len(d.queued)})
			}
			d.queued = append(d.queued, queueArgs(dlv, projectID, t.webhookID, ev.ID, store.StatusQueued, 0, 0, now))
			if claims {
				d.claims = append(d.claims, store.ClaimedDelivery{ // (the fields a claim returns)
					Delivery: store.Delivery{ID: dlv, ProjectID: projectID, EventID: ev.ID, WebhookID: t.webhookID,
						EventType: ev.EventType, Subject: ev.Subject, Status: store.StatusQueued, NextAttemptTime: now},
					EventPayload: ev.Payload, EventCreateTime: now, EventTrace: ev.Trace,
				})
			}
		}
	}
	return d
}

// newEvent is the event a publish input stores.
func newEvent(p store.PublishInput, projectID string, now time.Time) store.Event {
	ev := p.Event
	ev.ProjectID, ev.CreateTime, ev.Counts = projectID, now, nil
	if ev.ID == "" {
		ev.ID = id.New(id.Event, now)
	}
	if len(ev.Payload) == 0 {
		ev.Payload = []byte("{}")
	}
	return ev
}

// eventRows are the insertEvents rows of results[idx].
func eventRows(results []store.PublishResult, idx []int) [][]any {
	rows := make([][]any, len(idx))
	for n, i := range idx {
		ev := results[i].Event
		rows[n] = []any{ev.ID, ev.ProjectID, ev.EventType, ev.Subject, textArg(ev.Payload), ev.IdempotencyKey, ev.CreateTime,
			ev.Trace.Parent, ev.Trace.State, ev.TenantID}
	}
	return rows
}

// publishAtOncePG writes a publish's events, deliveries and queue rows in one statement (ok is always true).
var publishAtOncePG = pgWriteChain("", 1, "", "TRUE", insertEvents, insertDeliveries, insertQueue)

// publishAtOnce is PublishEvents without a transaction (PostgreSQL): the events, deliveries and queue rows are
// written by one statement that commits on its own. The targets come from the route cache (routecache.go), and
// that statement checks them: a publish whose lookup was seen before costs one round trip and one commit instead
// of a transaction's six round trips; a new or stale lookup adds a read. (Inside the transaction the lookup had its
// own snapshot too: READ COMMITTED gives each statement one, and the lookup locks nothing.) It covers the common
// publish; one with idempotency keys, a delivery to an ordered webhook with an ordering key or to a disabled
// webhook, watchers to tell, or more rows than one chunk takes the transaction: it then returns done false,
// having written nothing. A done publish's error is the publish's (an unknown webhook, say).
func (s *Store) publishAtOnce(ctx context.Context, p store.PublishEventsParams) (out []store.PublishResult, done bool, err error) {
	if !s.pg() || s.feed.active.Load() || len(p.Events) > eventChunk {
		return nil, false, nil
	}
	for _, in := range p.Events {
		if in.Event.IdempotencyKey != "" {
			return nil, false, nil
		}
	}
	ctx = noCancel(ctx)
	now := ts(p.Now)
	results := make([]store.PublishResult, len(p.Events))
	fresh := make([]int, len(p.Events))
	for i, in := range p.Events {
		results[i], fresh[i] = store.PublishResult{Event: newEvent(in, p.ProjectID, now)}, i
	}
	l, cacheable := lookupOf(p.ProjectID, routeQueryOf(p.ProjectID, p.Events, results, fresh))
	if !cacheable { // events naming webhooks mixed with events going by subscription: look up, then write
		targets, err := s.publishTargets(ctx, nil, p.ProjectID, p.Events, results, fresh)
		if err != nil {
			return nil, true, err
		}
		return s.writeAtOnce(ctx, p.ProjectID, results, fresh, targets, now, publishAtOncePG, nil)
	}
	for range 2 { // a remembered lookup, then (if it changed) a fresh one
		e, hit := s.routes.get(l.key)
		if !hit {
			if e, err = s.lookupRoutes(ctx, l); err != nil {
				return nil, true, err
			}
			s.routes.put(l.key, e)
		}
		for i := range results {
			results[i].DeliveryIDs = nil
		}
		targets, err := s.route(p.Events, results, fresh, e.found)
		if err != nil {
			if hit {
				s.routes.drop(l.key) // (perhaps the webhook exists by now)
				continue
			}
			return nil, true, err
		}
		out, done, err := s.writeAtOnce(ctx, p.ProjectID, results, fresh, targets, now, l.publish, append(slices.Clip(l.args), e.fp))
		if !done || err != nil || out != nil {
			return out, done, err
		}
		s.routes.drop(l.key) // the lookup finds other rows now
	}
	return nil, false, nil // the targets changed twice meanwhile: the transaction takes it
}

// writeAtOnce writes a publish routed to targets with statement q (publishAtOncePG, or publishCheckedPG with its
// lookup's arguments and fingerprint in head). It returns done false, having written nothing, for a publish that
// needs the transaction, and no results (and no error) when q's check found the targets changed.
func (s *Store) writeAtOnce(ctx context.Context, projectID string, results []store.PublishResult, fresh []int, targets map[int][]target, now time.Time, q string, head []any) ([]store.PublishResult, bool, error) {
	hd := s.handing()
	d := newDeliveriesOf(projectID, results, fresh, targets, now, hd != nil)
	if len(d.missed) > 0 || len(d.chained) > 0 || len(d.rows) > deliveryChunk {
		return nil, false, nil
	}
	handed := hd.lease(d.queued, d.claims, now)
	args := head
	for _, part := range []struct {
		b    bulkInsert
		rows [][]any
	}{{insertEvents, eventRows(results, fresh)}, {insertDeliveries, d.rows}, {insertQueue, d.queued}} {
		a, err := part.b.pgArgs(part.rows)
		if err != nil {
			hd.finish(false)
			return nil, true, err
		}
		args = append(args, a...)
	}
	run := func() (ok bool, err error) {
		err = s.prepared[q].QueryRowxContext(ctx, args...).Scan(&ok)
		return ok, err
	}
	ok, err := run()
	if err != nil && isMissingPartition(err) { // (an event id made with a clock far from the wall clock's days)
		if err = s.ensurePartitions(ctx, day(now), day(now)); err == nil {
			ok, err = run()
		}
	}
	hd.finish(err == nil && ok)
	switch {
	case err != nil:
		return nil, true, wrap("publish events", err)
	case !ok:
		return nil, true, nil
	}
	if len(d.queued) > handed {
		s.wake(now)
	}
	return results, true, nil
}
