package storesql

import (
	"cmp"
	"context"
	"database/sql"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/netguard"
	"github.com/hookd/hookd/internal/store"
)

const (
	webhookCols = `id, project_id, integration_id, name, system_name, description, method, url, path,
		integration_headers, headers, body_template, retry_policy, timeout_ms, async_status, async_timeout_ms, enabled,
		secret, previous_secret, previous_secret_expire_time, success_status_codes, signing_algorithm, public_key,
		previous_public_key, failure_threshold, send_traceparent, private_origin, tenant_id, signature_header, id_header,
		timestamp_header, signature_style, ordered, transport, create_time, update_time`

	// webhookReadCols adds the health the delivery engine keeps (never written by UpdateWebhook) and the version.
	webhookReadCols = webhookCols + `, consecutive_failures, warned_percent, disabled_reason, disable_time,
		last_success_time, last_failure_time, version`

	insertWebhook = `INSERT INTO webhooks (` + webhookCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	// updateWebhook changes the configuration over the version it was read at; enabled is SetWebhookEnabled's (and
	// the engine's) to change, so that an update made from a stale read never re-enables a webhook the engine just
	// disabled.
	updateWebhook = `UPDATE webhooks SET integration_id = ?, name = ?, system_name = ?, description = ?, method = ?,
		url = ?, path = ?, integration_headers = ?, headers = ?, body_template = ?, retry_policy = ?, timeout_ms = ?,
		async_status = ?, async_timeout_ms = ?, secret = ?, previous_secret = ?,
		previous_secret_expire_time = ?, success_status_codes = ?, signing_algorithm = ?, public_key = ?,
		previous_public_key = ?, failure_threshold = ?, send_traceparent = ?, private_origin = ?, tenant_id = ?,
		signature_header = ?, id_header = ?, timestamp_header = ?, signature_style = ?, ordered = ?, transport = ?, update_time = ?,
		version = version + 1
		WHERE project_id = ? AND id = ? AND version = ?`

	// cancelWebhookDeliveries cancels a deleted webhook's unfinished deliveries except those in flight (claimed,
	// lease not expired): an attempt under way finishes and is recorded as what it was (DONE with its attempt,
	// say); if it is to be retried, the next claim finds the webhook gone and fails it.
	cancelWebhookDeliveries = `UPDATE deliveries SET status = 'cancelled', reason = '` + string(health.FailWebhookDeleted) + `', update_time = ?
		WHERE project_id = ? AND id IN (SELECT delivery_id FROM delivery_queue WHERE webhook_id = ?
				AND (claim_token IS NULL OR due_time <= ?))
			AND status IN ('queued', 'retrying', 'waiting')
		RETURNING id`
)

type webhookRow struct {
	ID                       string         `db:"id"`
	ProjectID                string         `db:"project_id"`
	IntegrationID            sql.NullString `db:"integration_id"`
	Name                     string         `db:"name"`
	SystemName               string         `db:"system_name"`
	Description              string         `db:"description"`
	Method                   string         `db:"method"`
	URL                      string         `db:"url"`
	Path                     string         `db:"path"`
	IntegrationHeaders       jsonText       `db:"integration_headers"`
	Headers                  jsonText       `db:"headers"`
	BodyTemplate             string         `db:"body_template"`
	RetryPolicy              jsonText       `db:"retry_policy"`
	TimeoutMS                int64          `db:"timeout_ms"`
	AsyncStatus              bool           `db:"async_status"`
	AsyncTimeoutMS           int64          `db:"async_timeout_ms"`
	Enabled                  bool           `db:"enabled"`
	Secret                   string         `db:"secret"`
	PreviousSecret           string         `db:"previous_secret"`
	PreviousSecretExpireTime nullTime       `db:"previous_secret_expire_time"`
	SuccessStatusCodes       jsonText       `db:"success_status_codes"`
	SigningAlgorithm         string         `db:"signing_algorithm"`
	PublicKey                string         `db:"public_key"`
	PreviousPublicKey        string         `db:"previous_public_key"`
	FailureThreshold         int            `db:"failure_threshold"`
	SendTraceparent          bool           `db:"send_traceparent"`
	PrivateOrigin            string         `db:"private_origin"`
	TenantID                 string         `db:"tenant_id"`
	SignatureHeader          string         `db:"signature_header"`
	IDHeader                 string         `db:"id_header"`
	TimestampHeader          string         `db:"timestamp_header"`
	SignatureStyle           string         `db:"signature_style"`
	Ordered                  bool           `db:"ordered"`
	Transport                string         `db:"transport"`
	Version                  int64          `db:"version"`
	ConsecutiveFailures      int            `db:"consecutive_failures"`
	WarnedPercent            int            `db:"warned_percent"`
	DisabledReason           string         `db:"disabled_reason"`
	DisableTime              nullTime       `db:"disable_time"`
	LastSuccessTime          nullTime       `db:"last_success_time"`
	LastFailureTime          nullTime       `db:"last_failure_time"`
	CreateTime               dbTime         `db:"create_time"`
	UpdateTime               dbTime         `db:"update_time"`
}

func (r webhookRow) record() (store.Webhook, error) {
	w := store.Webhook{
		ID: r.ID, ProjectID: r.ProjectID, IntegrationID: r.IntegrationID.String, Name: r.Name, SystemName: r.SystemName,
		Description: r.Description, Method: r.Method, URL: r.URL, Path: r.Path, BodyTemplate: r.BodyTemplate,
		Timeout: time.Duration(r.TimeoutMS) * time.Millisecond, AsyncStatus: r.AsyncStatus,
		AsyncTimeout: time.Duration(r.AsyncTimeoutMS) * time.Millisecond, Enabled: r.Enabled, Secret: r.Secret,
		PreviousSecret: r.PreviousSecret, PreviousSecretExpireTime: r.PreviousSecretExpireTime.ptr(),
		CreateTime: r.CreateTime.t, UpdateTime: r.UpdateTime.t, SigningAlgorithm: store.SigningAlgorithm(r.SigningAlgorithm),
		PublicKey: r.PublicKey, PreviousPublicKey: r.PreviousPublicKey, FailureThreshold: r.FailureThreshold,
		NoTraceparent: !r.SendTraceparent, ConsecutiveFailures: r.ConsecutiveFailures, WarnedPercent: r.WarnedPercent,
		DisabledReason: r.DisabledReason, DisableTime: r.DisableTime.ptr(), LastSuccessTime: r.LastSuccessTime.ptr(),
		LastFailureTime: r.LastFailureTime.ptr(), PrivateOrigin: r.PrivateOrigin, Version: r.Version, TenantID: r.TenantID,
		SignatureHeader: r.SignatureHeader, IDHeader: r.IDHeader, TimestampHeader: r.TimestampHeader,
		SignatureStyle: store.SignatureStyle(r.SignatureStyle),
		Ordered:        r.Ordered,
		Transport:      store.Transport(r.Transport),
	}
	if err := r.SuccessStatusCodes.decode(&w.SuccessStatusCodes); err != nil {
		return w, err
	}
	if len(w.SuccessStatusCodes) == 0 {
		w.SuccessStatusCodes = nil // "[]": any 2xx
	}
	if err := r.IntegrationHeaders.decode(&w.IntegrationHeaders); err != nil {
		return w, err
	}
	if err := r.Headers.decode(&w.Headers); err != nil {
		return w, err
	}
	return w, r.RetryPolicy.decode(&w.RetryPolicy)
}

// webhookRecord converts a stored webhook, decrypting its secrets and private header values.
func (s *Store) webhookRecord(r webhookRow) (store.Webhook, error) {
	w, err := r.record()
	if err != nil {
		return w, err
	}
	if w.Secret, err = s.openSecret("webhook "+w.ID+" secret", w.Secret); err != nil {
		return w, err
	}
	if w.PreviousSecret, err = s.openSecret("webhook "+w.ID+" previous secret", w.PreviousSecret); err != nil {
		return w, err
	}
	return w, s.openHeaders(w.Headers)
}

// webhookArgs are the mutable columns of w in updateWebhook order (without the WHERE arguments); secrets and
// private header values are encrypted.
func (s *Store) webhookArgs(w *store.Webhook) ([]any, error) {
	ih, err := jsonArg(nonNil(w.IntegrationHeaders))
	if err != nil {
		return nil, err
	}
	h, err := jsonArg(nonNil(s.sealHeaders(w.Headers)))
	if err != nil {
		return nil, err
	}
	rp, err := jsonArg(w.RetryPolicy)
	if err != nil {
		return nil, err
	}
	codes, err := jsonArg(nonNil(w.SuccessStatusCodes))
	if err != nil {
		return nil, err
	}
	if w.SigningAlgorithm == "" {
		w.SigningAlgorithm = store.SigningHMACSHA256
	}
	integrationID := sql.NullString{String: w.IntegrationID, Valid: w.IntegrationID != ""}
	return []any{integrationID, w.Name, w.SystemName, w.Description, w.Method, w.URL, w.Path, ih, h, w.BodyTemplate, rp,
		w.Timeout.Milliseconds(), w.AsyncStatus, w.AsyncTimeout.Milliseconds(), s.keys.Seal(w.Secret), s.keys.Seal(w.PreviousSecret),
		tsPtr(w.PreviousSecretExpireTime), codes, string(w.SigningAlgorithm), w.PublicKey, w.PreviousPublicKey,
		w.FailureThreshold, !w.NoTraceparent, w.PrivateOrigin, w.TenantID, w.SignatureHeader, w.IDHeader, w.TimestampHeader,
		string(w.SignatureStyle), w.Ordered, string(w.Transport), w.UpdateTime}, nil
}

// CreateWebhook stores w, filling in its id and times when empty; ErrNotFound when its integration is not in the
// project, ErrAlreadyExists when the system name is taken.
func (s *Store) CreateWebhook(ctx context.Context, w *store.Webhook) error {
	w.CreateTime = orNow(w.CreateTime)
	w.UpdateTime = w.CreateTime
	if w.ID == "" {
		w.ID = id.New(id.Webhook, w.CreateTime)
	}
	args, err := s.webhookArgs(w)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.requireIntegration(ctx, tx, w.ProjectID, w.IntegrationID); err != nil {
			return wrap("create webhook", err)
		}
		// The insert's columns: id, project_id, the updatable ones with enabled after async_timeout_ms, the times.
		all := append([]any{w.ID, w.ProjectID}, args[:14]...)
		all = append(all, w.Enabled)
		all = append(all, args[14:len(args)-1]...)
		all = append(all, w.CreateTime, w.UpdateTime)
		if _, err := tx.ExecContext(ctx, s.rebind(insertWebhook), all...); err != nil {
			return wrap("create webhook", err)
		}
		if !w.Enabled {
			w.DisabledReason, w.DisableTime = cmp.Or(w.DisabledReason, health.DisabledByPerson.String()), &w.CreateTime
			_, err := tx.ExecContext(ctx, s.rebind(`UPDATE webhooks SET disabled_reason = ?, disable_time = ? WHERE id = ?`),
				w.DisabledReason, w.CreateTime, w.ID)
			return wrap("create webhook", err)
		}
		return nil
	})
}

// requireIntegration returns ErrNotFound unless integrationID is empty or an integration of the project.
func (s *Store) requireIntegration(ctx context.Context, q queryer, projectID, integrationID string) error {
	if integrationID == "" {
		return nil
	}
	return s.requireRow(ctx, q, "integration "+integrationID, `SELECT 1 FROM integrations WHERE project_id = ? AND id = ?`,
		projectID, integrationID)
}

// GetWebhook returns a webhook of the project.
func (s *Store) GetWebhook(ctx context.Context, projectID, webhookID string) (*store.Webhook, error) {
	var r webhookRow
	if err := s.db.GetContext(ctx, &r, s.rebind(`SELECT `+webhookReadCols+` FROM webhooks WHERE project_id = ? AND id = ?`),
		projectID, webhookID); err != nil {
		return nil, wrap("get webhook", err)
	}
	w, err := s.webhookRecord(r)
	if err != nil {
		return nil, err
	}
	return &w, nil
}

// ListWebhooks lists a project's webhooks (those of one integration when integrationID is set), newest first.
func (s *Store) ListWebhooks(ctx context.Context, projectID, integrationID string, page store.Page) ([]store.Webhook, error) {
	return s.FilterWebhooks(ctx, projectID, store.WebhookFilter{IntegrationID: integrationID}, page)
}

// FilterWebhooks lists a project's webhooks passing f, newest first.
func (s *Store) FilterWebhooks(ctx context.Context, projectID string, f store.WebhookFilter, page store.Page) ([]store.Webhook, error) {
	where, args := []string{"project_id = ?"}, []any{projectID}
	if f.IntegrationID != "" {
		where, args = append(where, "integration_id = ?"), append(args, f.IntegrationID)
	}
	if f.TenantID != "" {
		where, args = append(where, "tenant_id = ?"), append(args, f.TenantID)
	}
	ws, err := list(ctx, s, webhookReadCols, "webhooks", where, args, page, func(r webhookRow) (store.Webhook, error) {
		w, err := s.webhookRecord(r)
		err = s.listed(ctx, "webhook", r.ID, err, func() {
			w, _ = r.record()
			w.Secret, w.PreviousSecret = s.openOrEmpty(w.Secret), s.openOrEmpty(w.PreviousSecret)
			s.openLogHeaders(w.Headers)
			w.SecretsUnreadable = true
		})
		return w, err
	})
	return ws, wrap("list webhooks", err)
}

// webhookNamesPG finds names of webhooks by id on PostgreSQL.
const webhookNamesPG = `SELECT id, name FROM webhooks WHERE project_id = $1 AND id = ANY($2::text[])`

// WebhookNames returns the current names of the project's webhooks among ids, by id; unknown ids are left out.
// It reads them in one query (the ids of a page of deliveries).
func (s *Store) WebhookNames(ctx context.Context, projectID string, ids []string) (map[string]string, error) {
	return s.names(ctx, "webhook names", `SELECT id, name FROM webhooks WHERE project_id = ? AND id IN (?)`,
		webhookNamesPG, projectID, ids)
}

// names runs a query of (id, name) rows for the project's records among ids.
func (s *Store) names(ctx context.Context, what, q, pgQuery, projectID string, ids []string) (map[string]string, error) {
	seen := make(map[string]bool, len(ids))
	list := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			list = append(list, id)
		}
	}
	out := make(map[string]string, len(list))
	if len(list) == 0 {
		return out, nil
	}
	q, args, err := s.inList(q, pgQuery, list, projectID)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ID   string `db:"id"`
		Name string `db:"name"`
	}
	if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, wrap(what, err)
	}
	for _, r := range rows {
		out[r.ID] = r.Name
	}
	return out, nil
}

// UpdateWebhook replaces the webhook's configuration (all but id, project, create time, enabled and health) over
// the version it was read at; ErrStale when it changed since (e.g. RotateWebhookSecret ran in between).
func (s *Store) UpdateWebhook(ctx context.Context, w *store.Webhook) error {
	w.UpdateTime = orNow(w.UpdateTime)
	args, err := s.webhookArgs(w)
	if err != nil {
		return err
	}
	version := w.Version
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.requireIntegration(ctx, tx, w.ProjectID, w.IntegrationID); err != nil {
			return wrap("update webhook", err)
		}
		if err := s.updateVersioned(ctx, tx, "update webhook", "webhooks", updateWebhook, args, w.ProjectID, w.ID, &version); err != nil {
			return err
		}
		// The fan-out index follows the webhook's tenant (a webhook moved to another tenant by an ADMIN).
		_, err := tx.ExecContext(ctx, s.rebind(`UPDATE subscription_event_types SET tenant_id = ?
			WHERE subscription_id IN (SELECT id FROM subscriptions WHERE webhook_id = ?) AND tenant_id <> ?`),
			w.TenantID, w.ID, w.TenantID)
		return wrap("update webhook", err)
	})
	if err == nil {
		w.Version = version // only once committed
	}
	return err
}

// RebindWebhookPrivateOrigin implements store.Store.
func (s *Store) RebindWebhookPrivateOrigin(ctx context.Context, p store.RebindPrivateOriginParams) (int, error) {
	projectID, integrationID, from, to := p.ProjectID, p.IntegrationID, p.From, p.To
	res, err := s.db.ExecContext(ctx, s.rebind(`UPDATE webhooks SET private_origin = ?, version = version + 1
		WHERE project_id = ? AND integration_id = ? AND url = '' AND private_origin = ?`), to, projectID, integrationID, from)
	if err != nil {
		return 0, wrap("rebind webhook private origin", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("rebind webhook private origin", err)
}

// DeleteWebhook deletes the webhook and its subscriptions and cancels its unfinished deliveries.
func (s *Store) DeleteWebhook(ctx context.Context, projectID, webhookID string, now time.Time) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM webhooks WHERE project_id = ? AND id = ?`), projectID, webhookID)
		if err := affectedOne("delete webhook", res, err); err != nil {
			return err
		}
		var ids []string
		if err := tx.SelectContext(ctx, &ids, s.rebind(cancelWebhookDeliveries), ts(now), projectID, webhookID, ts(now)); err != nil {
			return wrap("delete webhook: cancel deliveries", err)
		}
		s.note(tx, projectID, store.ChangeStatus, now, ids...)
		_, err = s.settle(ctx, tx, store.StatusCancelled, ids...)
		return err
	})
}

// bindPrivateOrigins binds the private header values of webhooks saved before private_origin existed (0007) to
// the origin they were sent to then: the webhook's url, or else its integration's base_url (a path never changes
// the origin). It runs at every start; once bound, a webhook is not looked at again. A webhook whose origin
// cannot be told (no valid URL) stays unbound, and its private values are sent nowhere.
func (s *Store) bindPrivateOrigins(ctx context.Context) error {
	hasPrivate := `w.headers LIKE '%"private":true%'`
	if s.pg() {
		hasPrivate = `w.headers @> '[{"private": true}]'`
	}
	var rows []struct {
		ID      string         `db:"id"`
		URL     string         `db:"url"`
		BaseURL sql.NullString `db:"base_url"`
		Version int64          `db:"version"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT w.id, w.url, i.base_url, w.version FROM webhooks w
		LEFT JOIN integrations i ON i.id = w.integration_id WHERE w.private_origin = '' AND `+hasPrivate); err != nil {
		return wrap("bind private header origins", err)
	}
	for _, r := range rows {
		target := r.URL
		if target == "" {
			target = r.BaseURL.String
		}
		origin, ok := netguard.Origin(target)
		if !ok {
			continue
		}
		if _, err := s.db.ExecContext(ctx, s.rebind(`UPDATE webhooks SET private_origin = ?, version = version + 1
			WHERE id = ? AND private_origin = '' AND version = ?`), origin, r.ID, r.Version); err != nil {
			return wrap("bind private header origins", err)
		}
	}
	if len(rows) > 0 {
		s.log.InfoContext(ctx, "bound private webhook headers to their origin", "webhooks", len(rows))
	}
	return nil
}
