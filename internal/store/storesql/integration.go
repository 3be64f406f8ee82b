package storesql

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/store"
)

const (
	integrationCols = `id, project_id, name, base_url, rate_limit_per_second, headers, auth, create_time, update_time`

	// integrationReadCols adds the version (written by updates only).
	integrationReadCols = integrationCols + `, version`

	insertIntegration = `INSERT INTO integrations (` + integrationCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

	updateIntegration = `UPDATE integrations SET name = ?, base_url = ?, rate_limit_per_second = ?, headers = ?, auth = ?,
		update_time = ?, version = version + 1 WHERE project_id = ? AND id = ? AND version = ?`
)

type integrationRow struct {
	ID                 string   `db:"id"`
	ProjectID          string   `db:"project_id"`
	Name               string   `db:"name"`
	BaseURL            string   `db:"base_url"`
	RateLimitPerSecond int      `db:"rate_limit_per_second"`
	Headers            jsonText `db:"headers"`
	Auth               jsonText `db:"auth"`
	CreateTime         dbTime   `db:"create_time"`
	UpdateTime         dbTime   `db:"update_time"`
	Version            int64    `db:"version"`
}

func (r integrationRow) record() (store.Integration, error) {
	in := store.Integration{
		ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, BaseURL: r.BaseURL, RateLimitPerSecond: r.RateLimitPerSecond,
		CreateTime: r.CreateTime.t, UpdateTime: r.UpdateTime.t, Version: r.Version,
	}
	if err := r.Headers.decode(&in.Headers); err != nil {
		return in, err
	}
	if len(r.Auth) > 0 {
		in.Auth = new(store.IntegrationAuth)
		if err := r.Auth.decode(in.Auth); err != nil {
			return in, err
		}
	}
	return in, nil
}

// integrationRecord converts a stored integration, decrypting private header values and auth secrets.
func (s *Store) integrationRecord(r integrationRow) (store.Integration, error) {
	in, err := r.record()
	if err != nil {
		return in, err
	}
	if err := s.openHeaders(in.Headers); err != nil {
		return in, err
	}
	return in, s.openAuth(in.Auth)
}

// integrationArgs encodes the JSON columns of in with its secrets sealed: headers, and auth (NULL when none).
func (s *Store) integrationArgs(in *store.Integration) (headers, auth any, err error) {
	h, err := jsonArg(nonNil(s.sealHeaders(in.Headers)))
	if err != nil {
		return nil, nil, err
	}
	if in.Auth == nil {
		return h, nil, nil
	}
	a, err := jsonArg(s.sealAuth(in.Auth))
	return h, a, err
}

// CreateIntegration stores in, filling in its id and times when empty.
func (s *Store) CreateIntegration(ctx context.Context, in *store.Integration) error {
	in.CreateTime = orNow(in.CreateTime)
	in.UpdateTime = in.CreateTime
	if in.ID == "" {
		in.ID = id.New(id.Integration, in.CreateTime)
	}
	headers, auth, err := s.integrationArgs(in)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.rebind(insertIntegration), in.ID, in.ProjectID, in.Name, in.BaseURL,
		in.RateLimitPerSecond, headers, auth, in.CreateTime, in.UpdateTime)
	return wrap("create integration", err)
}

// GetIntegration returns an integration of the project.
func (s *Store) GetIntegration(ctx context.Context, projectID, integrationID string) (*store.Integration, error) {
	var r integrationRow
	if err := s.db.GetContext(ctx, &r, s.rebind(`SELECT `+integrationReadCols+` FROM integrations WHERE project_id = ? AND id = ?`),
		projectID, integrationID); err != nil {
		return nil, wrap("get integration", err)
	}
	in, err := s.integrationRecord(r)
	if err != nil {
		return nil, err
	}
	return &in, nil
}

// ListIntegrations lists a project's integrations, newest first.
func (s *Store) ListIntegrations(ctx context.Context, projectID string, page store.Page) ([]store.Integration, error) {
	ins, err := list(ctx, s, integrationReadCols, "integrations", []string{"project_id = ?"}, []any{projectID}, page, func(r integrationRow) (store.Integration, error) {
		in, err := s.integrationRecord(r)
		err = s.listed(ctx, "integration", r.ID, err, func() {
			in, _ = r.record()
			s.openLogHeaders(in.Headers)
			if in.Auth != nil {
				for _, v := range in.Auth.Secrets() {
					*v = ""
				}
			}
			in.SecretsUnreadable = true
		})
		return in, err
	})
	return ins, wrap("list integrations", err)
}

// integrationNamesPG finds names of integrations by id on PostgreSQL.
const integrationNamesPG = `SELECT id, name FROM integrations WHERE project_id = $1 AND id = ANY($2::text[])`

// IntegrationNames returns the current names of the project's integrations among ids, by id; unknown ids are
// left out. It reads them in one query.
func (s *Store) IntegrationNames(ctx context.Context, projectID string, ids []string) (map[string]string, error) {
	return s.names(ctx, "integration names", `SELECT id, name FROM integrations WHERE project_id = ? AND id IN (?)`,
		integrationNamesPG, projectID, ids)
}

// UpdateIntegration replaces the integration's fields (all but id, project and create time) over the version
// it was read at; ErrStale when it changed since.
func (s *Store) UpdateIntegration(ctx context.Context, in *store.Integration) error {
	in.UpdateTime = orNow(in.UpdateTime)
	headers, auth, err := s.integrationArgs(in)
	if err != nil {
		return err
	}
	return s.updateVersioned(ctx, s.db, "update integration", "integrations", updateIntegration,
		[]any{in.Name, in.BaseURL, in.RateLimitPerSecond, headers, auth, in.UpdateTime}, in.ProjectID, in.ID, &in.Version)
}

// updateVersioned runs q, a versioned UPDATE of one record of table ending in "WHERE project_id = ? AND id = ?
// AND version = ?" (setting version = version + 1), with args then those three. When it matches no row, the
// record is either gone (ErrNotFound) or changed since it was read (ErrStale); on success *version is the new
// version.
func (s *Store) updateVersioned(ctx context.Context, q queryer, what, table, query string, args []any, projectID, id string, version *int64) error {
	res, err := q.ExecContext(ctx, s.rebind(query), append(args, projectID, id, *version)...)
	if err != nil {
		return wrap(what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(what, err)
	}
	if n == 1 {
		*version++
		return nil
	}
	var exists bool
	if err := q.GetContext(ctx, &exists, s.rebind(`SELECT EXISTS (SELECT 1 FROM `+table+` WHERE project_id = ? AND id = ?)`),
		projectID, id); err != nil {
		return wrap(what, err)
	}
	if exists {
		return wrap(what, store.ErrStale)
	}
	return wrap(what, store.ErrNotFound)
}

// DeleteIntegration deletes an integration; ErrConflict while webhooks belong to it.
func (s *Store) DeleteIntegration(ctx context.Context, projectID, integrationID string) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var inUse bool
		if err := tx.GetContext(ctx, &inUse, s.rebind(`SELECT EXISTS (SELECT 1 FROM webhooks WHERE project_id = ? AND integration_id = ?)`),
			projectID, integrationID); err != nil {
			return wrap("delete integration", err)
		}
		if inUse {
			return wrap("delete integration: webhooks use it", store.ErrConflict)
		}
		res, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM integrations WHERE project_id = ? AND id = ?`), projectID, integrationID)
		return affectedOne("delete integration", res, err)
	})
}

// affectedOne returns ErrNotFound when an UPDATE or DELETE matched no row.
func affectedOne(what string, res interface{ RowsAffected() (int64, error) }, err error) error {
	if err != nil {
		return wrap(what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(what, err)
	}
	if n == 0 {
		return wrap(what, store.ErrNotFound)
	}
	return nil
}

// mapRowsErr converts scanned rows to records, stopping at the first decoding error.
func mapRowsErr[R, T any](rows []R, f func(R) (T, error)) ([]T, error) {
	out := make([]T, len(rows))
	for i, r := range rows {
		var err error
		if out[i], err = f(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}
