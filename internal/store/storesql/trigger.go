package storesql

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
)

const (
	triggerCols = `id, project_id, name, event_type, api_key_header, api_key, response_status, response_type, response_body,
		sync, sync_timeout_ms, rate_limit_per_second, routes, signature, max_body_bytes, enabled, subject, drop_headers,
		drop_query_parameters, create_time, update_time`

	// triggerReadCols adds the version (written by updates only).
	triggerReadCols = triggerCols + `, version`

	insertTrigger = `INSERT INTO triggers (` + triggerCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	updateTrigger = `UPDATE triggers SET name = ?, event_type = ?, api_key_header = ?, api_key = ?, response_status = ?,
		response_type = ?, response_body = ?, sync = ?, sync_timeout_ms = ?, rate_limit_per_second = ?, routes = ?,
		signature = ?, max_body_bytes = ?, enabled = ?, subject = ?, drop_headers = ?, drop_query_parameters = ?,
		update_time = ?, version = version + 1
		WHERE project_id = ? AND id = ? AND version = ?`

	executionCols = `id, project_id, trigger_id, receive_time, method, headers, query_parameters, path_fragment, raw_body,
		raw_body_base64, body, content_type, status, event_id, event_type, subject, body_truncated`

	// executionListCols are executionCols without the bodies: List responses carry none.
	executionListCols = `id, project_id, trigger_id, receive_time, method, headers, query_parameters, path_fragment,
		'' AS raw_body, raw_body_base64, NULL AS body, content_type, status, event_id, event_type, subject, body_truncated`
)

type triggerRow struct {
	ID                 string   `db:"id"`
	ProjectID          string   `db:"project_id"`
	Name               string   `db:"name"`
	EventType          string   `db:"event_type"`
	APIKeyHeader       string   `db:"api_key_header"`
	APIKey             string   `db:"api_key"`
	ResponseStatus     int      `db:"response_status"`
	ResponseType       string   `db:"response_type"`
	ResponseBody       string   `db:"response_body"`
	Sync               bool     `db:"sync"`
	SyncTimeoutMS      int64    `db:"sync_timeout_ms"`
	RateLimitPerSecond int      `db:"rate_limit_per_second"`
	Routes             jsonText `db:"routes"`
	Signature          jsonText `db:"signature"`
	MaxBodyBytes       int64    `db:"max_body_bytes"`
	Enabled            bool     `db:"enabled"`
	Subject            jsonText `db:"subject"`
	DropHeaders        jsonText `db:"drop_headers"`
	DropQuery          jsonText `db:"drop_query_parameters"`
	CreateTime         dbTime   `db:"create_time"`
	UpdateTime         dbTime   `db:"update_time"`
	Version            int64    `db:"version"`
}

func (r triggerRow) record() (store.Trigger, error) {
	t := store.Trigger{
		ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, EventType: r.EventType, APIKeyHeader: r.APIKeyHeader,
		APIKey: r.APIKey, ResponseStatus: r.ResponseStatus, ResponseType: r.ResponseType, ResponseBody: r.ResponseBody,
		Sync: r.Sync, SyncTimeout: time.Duration(r.SyncTimeoutMS) * time.Millisecond,
		RateLimitPerSecond: r.RateLimitPerSecond, MaxBodyBytes: r.MaxBodyBytes, Enabled: r.Enabled,
		CreateTime: r.CreateTime.t, UpdateTime: r.UpdateTime.t, Version: r.Version,
	}
	if err := r.Routes.decode(&t.Routes); err != nil {
		return t, err
	}
	if err := r.Subject.decode(&t.Subject); err != nil {
		return t, err
	}
	if err := r.DropHeaders.decode(&t.DropHeaders); err != nil {
		return t, err
	}
	if err := r.DropQuery.decode(&t.DropQueryParameters); err != nil {
		return t, err
	}
	return t, r.Signature.decode(&t.Signature)
}

// triggerRecord converts a stored trigger, decrypting its signature secret (the API key stays a hash).
func (s *Store) triggerRecord(r triggerRow) (store.Trigger, error) {
	t, err := r.record()
	if err != nil {
		return t, err
	}
	t.Signature.Secret, err = s.openSecret("trigger "+t.ID+" signature secret", t.Signature.Secret)
	return t, err
}

// triggerArgs are the mutable columns of t in updateTrigger order (ending with update_time): the API key hashed,
// the signature secret encrypted.
func (s *Store) triggerArgs(t *store.Trigger) ([]any, error) {
	routes, err := jsonArg(nonNil(t.Routes))
	if err != nil {
		return nil, err
	}
	sealed := t.Signature
	sealed.Secret = s.keys.Seal(sealed.Secret)
	sig, err := jsonArg(sealed)
	if err != nil {
		return nil, err
	}
	subject, err := jsonArg(t.Subject)
	if err != nil {
		return nil, err
	}
	dropH, err := jsonArg(nonNil(t.DropHeaders))
	if err != nil {
		return nil, err
	}
	dropQ, err := jsonArg(nonNil(t.DropQueryParameters))
	if err != nil {
		return nil, err
	}
	return []any{t.Name, t.EventType, t.APIKeyHeader, secret.HashKey(t.APIKey), t.ResponseStatus, t.ResponseType,
		t.ResponseBody, t.Sync, t.SyncTimeout.Milliseconds(), t.RateLimitPerSecond, routes, sig, t.MaxBodyBytes, t.Enabled,
		subject, dropH, dropQ, t.UpdateTime}, nil
}

// CreateTrigger stores t, filling in its id and times when empty.
func (s *Store) CreateTrigger(ctx context.Context, t *store.Trigger) error {
	t.CreateTime = orNow(t.CreateTime)
	t.UpdateTime = t.CreateTime
	if t.ID == "" {
		t.ID = id.New(id.Trigger, t.CreateTime)
	}
	args, err := s.triggerArgs(t)
	if err != nil {
		return err
	}
	all := append([]any{t.ID, t.ProjectID}, args[:len(args)-1]...)
	all = append(all, t.CreateTime, t.UpdateTime)
	_, err = s.db.ExecContext(ctx, s.rebind(insertTrigger), all...)
	return wrap("create trigger", err)
}

// GetTrigger returns a trigger of the project.
func (s *Store) GetTrigger(ctx context.Context, projectID, triggerID string) (*store.Trigger, error) {
	return s.getTrigger(ctx, `SELECT `+triggerReadCols+` FROM triggers WHERE project_id = ? AND id = ?`, projectID, triggerID)
}

// TriggerByID finds a trigger of any project (for the public trigger endpoint).
func (s *Store) TriggerByID(ctx context.Context, triggerID string) (*store.Trigger, error) {
	return s.getTrigger(ctx, `SELECT `+triggerReadCols+` FROM triggers WHERE id = ?`, triggerID)
}

func (s *Store) getTrigger(ctx context.Context, q string, args ...any) (*store.Trigger, error) {
	var r triggerRow
	if err := s.db.GetContext(ctx, &r, s.rebind(q), args...); err != nil {
		return nil, wrap("get trigger", err)
	}
	t, err := s.triggerRecord(r)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// ListTriggers lists a project's triggers, newest first.
func (s *Store) ListTriggers(ctx context.Context, projectID string, page store.Page) ([]store.Trigger, error) {
	ts, err := list(ctx, s, triggerReadCols, "triggers", []string{"project_id = ?"}, []any{projectID}, page, func(r triggerRow) (store.Trigger, error) {
		t, err := s.triggerRecord(r)
		err = s.listed(ctx, "trigger", r.ID, err, func() {
			t, _ = r.record()
			t.Signature.Secret = ""
			t.SecretsUnreadable = true
		})
		return t, err
	})
	return ts, wrap("list triggers", err)
}

// UpdateTrigger replaces the trigger's fields (all but id, project and create time) over the version it was
// read at; ErrStale when it changed since.
func (s *Store) UpdateTrigger(ctx context.Context, t *store.Trigger) error {
	t.UpdateTime = orNow(t.UpdateTime)
	args, err := s.triggerArgs(t)
	if err != nil {
		return err
	}
	return s.updateVersioned(ctx, s.db, "update trigger", "triggers", updateTrigger, args, t.ProjectID, t.ID, &t.Version)
}

// DeleteTrigger deletes a trigger and its executions.
func (s *Store) DeleteTrigger(ctx context.Context, projectID, triggerID string) error {
	res, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM triggers WHERE project_id = ? AND id = ?`), projectID, triggerID)
	return affectedOne("delete trigger", res, err)
}

type executionRow struct {
	ID              string   `db:"id"`
	ProjectID       string   `db:"project_id"`
	TriggerID       string   `db:"trigger_id"`
	ReceiveTime     dbTime   `db:"receive_time"`
	Method          string   `db:"method"`
	Headers         jsonText `db:"headers"`
	QueryParameters jsonText `db:"query_parameters"`
	PathFragment    string   `db:"path_fragment"`
	RawBody         string   `db:"raw_body"`
	RawBodyBase64   bool     `db:"raw_body_base64"`
	Body            jsonText `db:"body"`
	ContentType     string   `db:"content_type"`
	Status          int      `db:"status"`
	EventID         string   `db:"event_id"`
	EventType       string   `db:"event_type"`
	Subject         string   `db:"subject"`
	BodyTruncated   bool     `db:"body_truncated"`
	PayloadExpired  bool     `db:"payload_expired"`
}

func (r executionRow) record() (store.Execution, error) {
	e := store.Execution{
		ID: r.ID, ProjectID: r.ProjectID, TriggerID: r.TriggerID, ReceiveTime: r.ReceiveTime.t, Method: r.Method,
		PathFragment: r.PathFragment, RawBody: r.RawBody, RawBodyBase64: r.RawBodyBase64, Body: r.Body.raw(),
		ContentType: r.ContentType, Status: r.Status, EventID: r.EventID, EventType: r.EventType, Subject: r.Subject,
		BodyTruncated: r.BodyTruncated, PayloadExpired: r.PayloadExpired,
	}
	if err := r.Headers.decode(&e.Headers); err != nil {
		return e, err
	}
	return e, r.QueryParameters.decode(&e.QueryParameters)
}

// executionRecord converts a stored execution, decrypting private header values.
func (s *Store) executionRecord(r executionRow) (store.Execution, error) {
	e, err := r.record()
	if err != nil {
		return e, err
	}
	s.openLogHeaders(e.Headers)
	return e, nil
}

// RecordExecution stores an execution and, when publish is not nil, publishes its event in the same transaction
// (setting e.EventID and e.EventType). It returns the publish result (nil without publish).
func (s *Store) RecordExecution(ctx context.Context, e *store.Execution, publish *store.PublishInput, now time.Time) (*store.PublishResult, error) {
	res, err := s.RecordExecutions(ctx, []store.ExecutionRecord{{Execution: e, Publish: publish}}, now)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// insertExecutions inserts executions; on PostgreSQL only those whose trigger exists in their project (so that one
// statement both checks and inserts: RecordExecutions compares the count).
var insertExecutions = newBulkInsert(bulkInsert{
	into:   `INSERT INTO executions (` + executionCols + `)`,
	pgJoin: `JOIN triggers t ON t.id = u.trigger_id AND t.project_id = u.project_id`,
	pgTypes: []string{"text", "text", "text", "timestamptz", "text", "json", "json", "text", "text", "boolean", "json",
		"text", "integer", "text", "text", "text", "boolean"},
})

// findTriggersPG finds triggers by id on PostgreSQL (a fixed text, prepared).
const findTriggersPG = `SELECT project_id, id FROM triggers WHERE id = ANY($1::text[])`

// executionChunk is the number of rows per multi-row INSERT of executions (16 parameters each).
const executionChunk = 500

// RecordExecutions stores executions (of any projects) and publishes the events of those with a publish input,
// all in one transaction: publishes are grouped by project, executions inserted with multi-row INSERTs. It sets
// each execution's ID and ReceiveTime when empty and EventID/EventType when published, and returns the publish
// results in input order (nil for records without publish). ErrNotFound when an execution's trigger does not exist
// in its project; then nothing is stored.
func (s *Store) RecordExecutions(ctx context.Context, in []store.ExecutionRecord, now time.Time) ([]*store.PublishResult, error) {
	if len(in) == 0 {
		return nil, nil
	}
	now = ts(now)
	rows := make([][]any, len(in))
	triggerIDs := make([]string, 0, len(in))
	for i, r := range in {
		e := r.Execution
		if e == nil {
			return nil, fmt.Errorf("record executions: record %d has no execution", i)
		}
		e.ReceiveTime = ts(e.ReceiveTime)
		if e.ReceiveTime.IsZero() {
			e.ReceiveTime = now
		}
		if e.ID == "" {
			e.ID = id.New(id.Execution, e.ReceiveTime)
		}
		headers, err := jsonArg(nonNil(s.sealHeaders(e.Headers)))
		if err != nil {
			return nil, err
		}
		query, err := jsonArg(nonNil(e.QueryParameters))
		if err != nil {
			return nil, err
		}
		// Event columns (indexes 13 and 14) are filled in once published.
		rows[i] = []any{e.ID, e.ProjectID, e.TriggerID, e.ReceiveTime, e.Method, headers, query, e.PathFragment,
			e.RawBody, e.RawBodyBase64, rawArg(e.Body), e.ContentType, e.Status, "", "", e.Subject, e.BodyTruncated}
		triggerIDs = append(triggerIDs, e.TriggerID)
	}

	results := make([]*store.PublishResult, len(in))
	var woke bool
	times := []time.Time{now}
	for _, r := range in {
		times = append(times, r.Execution.ReceiveTime)
	}
	var hd *handing
	err := s.inPartitionedTx(ctx, times, func(tx *sqlx.Tx) error {
		hd.finish(false) // (an earlier try's, rolled back)
		hd = s.handing()
		// On PostgreSQL the executions insert checks the triggers itself (and is the last statement: a missing
		// trigger rolls the publishes back); SQLite has no round trips to save.
		if !s.pg() {
			if err := s.requireTriggers(ctx, tx, in, dedupe(triggerIDs)); err != nil {
				return err
			}
		}
		// Publishes grouped by project, in order of first appearance.
		var projects []string
		byProject := map[string][]int{}
		for i, r := range in {
			if r.Publish == nil {
				continue
			}
			p := r.Execution.ProjectID
			if _, ok := byProject[p]; !ok {
				projects = append(projects, p)
			}
			byProject[p] = append(byProject[p], i)
		}
		for _, p := range projects {
			idx := byProject[p]
			inputs := make([]store.PublishInput, len(idx))
			for n, i := range idx {
				inputs[n] = *in[i].Publish
			}
			res, w, err := s.publish(ctx, tx, hd, p, inputs, now, store.IdempotencyWindow)
			if err != nil {
				return err
			}
			woke = woke || w
			for n, i := range idx {
				results[i] = &res[n]
				rows[i][13], rows[i][14] = res[n].Event.ID, res[n].Event.EventType
			}
		}
		for chunk := range slices.Chunk(rows, executionChunk) {
			q, args, err := insertExecutions.query(s.pg(), chunk)
			if err != nil {
				return err
			}
			res, err := s.txExec(ctx, tx, q, args...)
			if err != nil {
				return wrap("record executions", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return wrap("record executions: count", err)
			}
			if n < int64(len(chunk)) {
				if err := s.requireTriggers(ctx, tx, in, dedupe(triggerIDs)); err != nil {
					return err // names the missing trigger
				}
				return fmt.Errorf("record executions: %d of %d triggers: %w", len(chunk)-int(n), len(chunk), store.ErrNotFound)
			}
		}
		return nil
	})
	hd.finish(err == nil)
	if err != nil {
		return nil, err
	}
	for i, r := range in {
		if results[i] != nil {
			r.Execution.EventID, r.Execution.EventType = results[i].Event.ID, results[i].Event.EventType
		}
	}
	if woke {
		s.wake(now)
	}
	return results, nil
}

// requireTriggers checks that every record's trigger exists in the record's project.
func (s *Store) requireTriggers(ctx context.Context, tx *sqlx.Tx, in []store.ExecutionRecord, triggerIDs []string) error {
	found := make(map[[2]string]bool, len(triggerIDs))
	for chunk := range slices.Chunk(triggerIDs, executionChunk) {
		q, args, err := s.inList(`SELECT project_id, id FROM triggers WHERE id IN (?)`, findTriggersPG, chunk)
		if err != nil {
			return err
		}
		var rows []struct {
			ProjectID string `db:"project_id"`
			ID        string `db:"id"`
		}
		if err := s.txSelect(ctx, tx, &rows, q, args...); err != nil {
			return wrap("record executions: find triggers", err)
		}
		for _, r := range rows {
			found[[2]string{r.ProjectID, r.ID}] = true
		}
	}
	for _, r := range in {
		if !found[[2]string{r.Execution.ProjectID, r.Execution.TriggerID}] {
			return fmt.Errorf("record execution: trigger %s: %w", r.Execution.TriggerID, store.ErrNotFound)
		}
	}
	return nil
}

// GetExecution returns an execution of the project.
func (s *Store) GetExecution(ctx context.Context, projectID, executionID string) (*store.Execution, error) {
	var r executionRow
	if err := s.db.GetContext(ctx, &r, s.rebind(`SELECT `+executionCols+`, payload_expired FROM executions WHERE project_id = ? AND id = ?`),
		projectID, executionID); err != nil {
		return nil, wrap("get execution", err)
	}
	e, err := s.executionRecord(r)
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// ExecutionByID finds an execution of any project (for the public sync result URL).
func (s *Store) ExecutionByID(ctx context.Context, executionID string) (*store.Execution, error) {
	var r executionRow
	if err := s.db.GetContext(ctx, &r, s.rebind(`SELECT `+executionCols+`, payload_expired FROM executions WHERE id = ?`), executionID); err != nil {
		return nil, wrap("get execution", err)
	}
	e, err := s.executionRecord(r)
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// ListExecutions lists a project's executions (one trigger's when triggerID is set), newest first.
func (s *Store) ListExecutions(ctx context.Context, projectID, triggerID string, page store.Page) ([]store.Execution, error) {
	where, args := []string{"project_id = ?"}, []any{projectID}
	if triggerID != "" {
		where, args = append(where, "trigger_id = ?"), append(args, triggerID)
	}
	es, err := list(ctx, s, executionListCols+", payload_expired", "executions", where, args, page, s.executionRecord)
	return es, wrap("list executions", err)
}

// RememberTriggerSignature records that trigger triggerID accepted the signature whose digest is given, until
// expire, in one statement: a row of the same digest that has not expired by now makes it a replay (false).
func (s *Store) RememberTriggerSignature(ctx context.Context, p store.RememberTriggerSignatureParams) (bool, error) {
	triggerID, digest, expire, now := p.TriggerID, p.Digest, p.Expire, p.Now
	res, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO trigger_signatures (trigger_id, digest, expire_time) VALUES (?, ?, ?)
		ON CONFLICT (trigger_id, digest) DO UPDATE SET expire_time = excluded.expire_time
		WHERE trigger_signatures.expire_time <= ?`), triggerID, digest, ts(expire), ts(now))
	if err != nil {
		return false, wrap("remember trigger signature", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("remember trigger signature", err)
}
