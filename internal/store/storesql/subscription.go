package storesql

import (
	"context"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/store"
)

// AllEventTypes is the subscription event type that matches every event.
const AllEventTypes = "*"

const (
	subscriptionCols = `id, project_id, webhook_id, event_types, subject_filter, filter, enabled, create_time, update_time`

	// subscriptionReadCols adds the version (written by updates only).
	subscriptionReadCols = subscriptionCols + `, version`

	insertSubscription = `INSERT INTO subscriptions (` + subscriptionCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

	updateSubscription = `UPDATE subscriptions SET webhook_id = ?, event_types = ?, subject_filter = ?, filter = ?, enabled = ?, update_time = ?,
		version = version + 1 WHERE project_id = ? AND id = ? AND version = ?`

	// insertSubscriptionEventType indexes one event type of a subscription under its webhook's tenant.
	insertSubscriptionEventType = `INSERT INTO subscription_event_types (subscription_id, project_id, event_type, tenant_id)
		SELECT ?, ?, ?, tenant_id FROM webhooks WHERE id = ?`
)

type subscriptionRow struct {
	ID            string   `db:"id"`
	ProjectID     string   `db:"project_id"`
	WebhookID     string   `db:"webhook_id"`
	EventTypes    jsonText `db:"event_types"`
	SubjectFilter string   `db:"subject_filter"`
	Filter        string   `db:"filter"`
	Enabled       bool     `db:"enabled"`
	CreateTime    dbTime   `db:"create_time"`
	UpdateTime    dbTime   `db:"update_time"`
	Version       int64    `db:"version"`
}

func (r subscriptionRow) record() (store.Subscription, error) {
	sub := store.Subscription{
		ID: r.ID, ProjectID: r.ProjectID, WebhookID: r.WebhookID, SubjectFilter: r.SubjectFilter, Filter: r.Filter, Enabled: r.Enabled,
		CreateTime: r.CreateTime.t, UpdateTime: r.UpdateTime.t, Version: r.Version,
	}
	return sub, r.EventTypes.decode(&sub.EventTypes)
}

// CreateSubscription stores sub, filling in its id and times when empty; ErrNotFound when the webhook or a named
// event type (other than "*") does not exist in the project.
func (s *Store) CreateSubscription(ctx context.Context, sub *store.Subscription) error {
	sub.CreateTime = orNow(sub.CreateTime)
	sub.UpdateTime = sub.CreateTime
	if sub.ID == "" {
		sub.ID = id.New(id.Subscription, sub.CreateTime)
	}
	sub.EventTypes = dedupe(sub.EventTypes)
	types, err := jsonArg(nonNil(sub.EventTypes))
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.checkSubscriptionRefs(ctx, tx, sub); err != nil {
			return wrap("create subscription", err)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(insertSubscription), sub.ID, sub.ProjectID, sub.WebhookID, types,
			sub.SubjectFilter, sub.Filter, sub.Enabled, sub.CreateTime, sub.UpdateTime); err != nil {
			return wrap("create subscription", err)
		}
		return s.insertSubscriptionEventTypes(ctx, tx, sub)
	})
}

// checkSubscriptionRefs returns ErrNotFound when the webhook or an event type of sub is not in its project.
func (s *Store) checkSubscriptionRefs(ctx context.Context, tx *sqlx.Tx, sub *store.Subscription) error {
	if err := s.requireRow(ctx, tx, "webhook "+sub.WebhookID, `SELECT 1 FROM webhooks WHERE project_id = ? AND id = ?`,
		sub.ProjectID, sub.WebhookID); err != nil {
		return err
	}
	var names []string
	for _, t := range sub.EventTypes {
		if t != AllEventTypes {
			names = append(names, t)
		}
	}
	if len(names) == 0 {
		return nil
	}
	q, args, err := s.in(`SELECT name FROM event_types WHERE project_id = ? AND name IN (?)`, sub.ProjectID, names)
	if err != nil {
		return err
	}
	var found []string
	if err := tx.SelectContext(ctx, &found, q, args...); err != nil {
		return fmt.Errorf("check event types: %w", err)
	}
	for _, n := range names {
		if !slices.Contains(found, n) {
			return fmt.Errorf("event type %q: %w", n, store.ErrNotFound)
		}
	}
	return nil
}

// insertSubscriptionEventTypes fills the fan-out index of sub.
func (s *Store) insertSubscriptionEventTypes(ctx context.Context, tx *sqlx.Tx, sub *store.Subscription) error {
	for _, t := range sub.EventTypes {
		if _, err := tx.ExecContext(ctx, s.rebind(insertSubscriptionEventType), sub.ID, sub.ProjectID, t, sub.WebhookID); err != nil {
			return wrap("index subscription event types", err)
		}
	}
	return nil
}

// GetSubscription returns a subscription of the project.
func (s *Store) GetSubscription(ctx context.Context, projectID, subscriptionID string) (*store.Subscription, error) {
	var r subscriptionRow
	if err := s.db.GetContext(ctx, &r, s.rebind(`SELECT `+subscriptionReadCols+` FROM subscriptions WHERE project_id = ? AND id = ?`),
		projectID, subscriptionID); err != nil {
		return nil, wrap("get subscription", err)
	}
	sub, err := r.record()
	if err != nil {
		return nil, err
	}
	return &sub, nil
}

// ListSubscriptions lists a project's subscriptions, newest first. f.WebhookID keeps one webhook's;
// f.EventType keeps those that receive that event type (naming it or "*"); f.TenantID those of the tenant's
// webhooks.
func (s *Store) ListSubscriptions(ctx context.Context, projectID string, f store.SubscriptionFilter, page store.Page) ([]store.Subscription, error) {
	where, args := []string{"project_id = ?"}, []any{projectID}
	if f.WebhookID != "" {
		where, args = append(where, "webhook_id = ?"), append(args, f.WebhookID)
	}
	if f.TenantID != "" {
		where = append(where, `webhook_id IN (SELECT id FROM webhooks WHERE project_id = ? AND tenant_id = ?)`)
		args = append(args, projectID, f.TenantID)
	}
	if f.EventType != "" {
		where = append(where, `id IN (SELECT subscription_id FROM subscription_event_types
			WHERE project_id = ? AND event_type IN (?, '*'))`)
		args = append(args, projectID, f.EventType)
	}
	subs, err := list(ctx, s, subscriptionReadCols, "subscriptions", where, args, page, subscriptionRow.record)
	return subs, wrap("list subscriptions", err)
}

// UpdateSubscription replaces the subscription's fields (all but id, project and create time) over the version
// it was read at; ErrStale when it changed since.
func (s *Store) UpdateSubscription(ctx context.Context, sub *store.Subscription) error {
	sub.UpdateTime = orNow(sub.UpdateTime)
	sub.EventTypes = dedupe(sub.EventTypes)
	types, err := jsonArg(nonNil(sub.EventTypes))
	if err != nil {
		return err
	}
	version := sub.Version
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.checkSubscriptionRefs(ctx, tx, sub); err != nil {
			return wrap("update subscription", err)
		}
		if err := s.updateVersioned(ctx, tx, "update subscription", "subscriptions", updateSubscription,
			[]any{sub.WebhookID, types, sub.SubjectFilter, sub.Filter, sub.Enabled, sub.UpdateTime}, sub.ProjectID, sub.ID, &version); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM subscription_event_types WHERE subscription_id = ?`), sub.ID); err != nil {
			return wrap("update subscription", err)
		}
		return s.insertSubscriptionEventTypes(ctx, tx, sub)
	})
	if err == nil {
		sub.Version = version // only once committed
	}
	return err
}

// DeleteSubscription deletes a subscription of the project.
func (s *Store) DeleteSubscription(ctx context.Context, projectID, subscriptionID string) error {
	res, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM subscriptions WHERE project_id = ? AND id = ?`), projectID, subscriptionID)
	return affectedOne("delete subscription", res, err)
}

// dedupe removes repeated values, keeping the first occurrence's order.
func dedupe(in []string) []string {
	out := in[:0:0]
	for _, v := range in {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
