package storesql

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/store"
)

const (
	projectCols = `id, name, create_time, update_time, retention_seconds, payload_retention_seconds, version`

	insertProject = `INSERT INTO projects (id, name, create_time, update_time) VALUES (?, ?, ?, ?)`

	apiKeyCols = `id, project_id, name, role, instance_admin, prefix, hash, create_time, update_time, revoke_time`

	insertAPIKey = `INSERT INTO api_keys (` + apiKeyCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	revokeAPIKey = `UPDATE api_keys SET revoke_time = COALESCE(revoke_time, ?), update_time = ?
		WHERE project_id = ? AND id = ?`
)

type projectRow struct {
	ID         string `db:"id"`
	Name       string `db:"name"`
	CreateTime dbTime `db:"create_time"`
	UpdateTime dbTime `db:"update_time"`
	// RetentionSeconds and PayloadRetentionSeconds are Project.Retention and PayloadRetention (0: unset).
	RetentionSeconds        int64 `db:"retention_seconds"`
	PayloadRetentionSeconds int64 `db:"payload_retention_seconds"`
	Version                 int64 `db:"version"`
}

func (r projectRow) record() store.Project {
	return store.Project{ID: r.ID, Name: r.Name, CreateTime: r.CreateTime.t, UpdateTime: r.UpdateTime.t,
		Retention: time.Duration(r.RetentionSeconds) * time.Second, PayloadRetention: time.Duration(r.PayloadRetentionSeconds) * time.Second,
		Version: r.Version}
}

// CreateProject stores p, filling in its id and times when empty.
func (s *Store) CreateProject(ctx context.Context, p *store.Project) error {
	p.CreateTime = orNow(p.CreateTime)
	p.UpdateTime = p.CreateTime
	if p.ID == "" {
		p.ID = id.New(id.Project, p.CreateTime)
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, s.rebind(insertProject), p.ID, p.Name, p.CreateTime, p.UpdateTime); err != nil {
			return wrap("create project", err)
		}
		return s.ensureOperationalTypes(ctx, tx, p.CreateTime, p.ID)
	})
}

// GetProject returns a project by id.
func (s *Store) GetProject(ctx context.Context, projectID string) (*store.Project, error) {
	var r projectRow
	if err := s.db.GetContext(ctx, &r, s.rebind(`SELECT `+projectCols+` FROM projects WHERE id = ?`), projectID); err != nil {
		return nil, wrap("get project", err)
	}
	p := r.record()
	return &p, nil
}

// ListProjects lists all projects, newest first.
func (s *Store) ListProjects(ctx context.Context, page store.Page) ([]store.Project, error) {
	prs, err := list(ctx, s, projectCols, "projects", nil, nil, page, noErr(projectRow.record))
	return prs, wrap("list projects", err)
}

type apiKeyRow struct {
	ID            string   `db:"id"`
	ProjectID     string   `db:"project_id"`
	Name          string   `db:"name"`
	Role          string   `db:"role"`
	InstanceAdmin bool     `db:"instance_admin"`
	Prefix        string   `db:"prefix"`
	Hash          []byte   `db:"hash"`
	CreateTime    dbTime   `db:"create_time"`
	UpdateTime    dbTime   `db:"update_time"`
	RevokeTime    nullTime `db:"revoke_time"`
}

func (r apiKeyRow) record() store.APIKey {
	return store.APIKey{
		ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Role: store.Role(r.Role), InstanceAdmin: r.InstanceAdmin,
		Prefix: r.Prefix, Hash: r.Hash, CreateTime: r.CreateTime.t, UpdateTime: r.UpdateTime.t, RevokeTime: r.RevokeTime.ptr(),
	}
}

// CreateAPIKey stores k (its hash, never the secret), filling in its id and times when empty.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	k.CreateTime = orNow(k.CreateTime)
	k.UpdateTime = k.CreateTime
	k.RevokeTime = tsPtr(k.RevokeTime)
	if k.ID == "" {
		k.ID = id.New(id.APIKey, k.CreateTime)
	}
	if err := s.requireProject(ctx, k.ProjectID); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, s.rebind(insertAPIKey), k.ID, k.ProjectID, k.Name, string(k.Role), k.InstanceAdmin,
		k.Prefix, k.Hash, k.CreateTime, k.UpdateTime, k.RevokeTime)
	return wrap("create api key", err)
}

// APIKeyByHash finds a key (revoked ones too: the caller checks RevokeTime) by the SHA-256 hash of its secret.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (*store.APIKey, error) {
	var r apiKeyRow
	if err := s.db.GetContext(ctx, &r, s.rebind(`SELECT `+apiKeyCols+` FROM api_keys WHERE hash = ?`), hash); err != nil {
		return nil, wrap("find api key", err)
	}
	k := r.record()
	return &k, nil
}

// ListAPIKeys lists a project's keys, newest first.
func (s *Store) ListAPIKeys(ctx context.Context, projectID string, page store.Page) ([]store.APIKey, error) {
	keys, err := list(ctx, s, apiKeyCols, "api_keys", []string{"project_id = ?"}, []any{projectID}, page, noErr(apiKeyRow.record))
	return keys, wrap("list api keys", err)
}

// RevokeAPIKey revokes a key (revoking twice keeps the first revoke time) and returns it.
func (s *Store) RevokeAPIKey(ctx context.Context, projectID, keyID string, now time.Time) (*store.APIKey, error) {
	now = ts(now)
	res, err := s.db.ExecContext(ctx, s.rebind(revokeAPIKey), now, now, projectID, keyID)
	if err != nil {
		return nil, wrap("revoke api key", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, wrap("revoke api key", store.ErrNotFound)
	}
	var r apiKeyRow
	if err := s.db.GetContext(ctx, &r, s.rebind(`SELECT `+apiKeyCols+` FROM api_keys WHERE project_id = ? AND id = ?`), projectID, keyID); err != nil {
		return nil, wrap("revoke api key", err)
	}
	k := r.record()
	return &k, nil
}

// GetAPIKey returns a key of the project (revoked ones too).
func (s *Store) GetAPIKey(ctx context.Context, projectID, keyID string) (*store.APIKey, error) {
	var r apiKeyRow
	if err := s.db.GetContext(ctx, &r, s.rebind(`SELECT `+apiKeyCols+` FROM api_keys WHERE project_id = ? AND id = ?`), projectID, keyID); err != nil {
		return nil, wrap("get api key", err)
	}
	k := r.record()
	return &k, nil
}

// CountAPIKeys counts all keys of the instance, revoked ones included.
func (s *Store) CountAPIKeys(ctx context.Context) (int, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM api_keys`); err != nil {
		return 0, wrap("count api keys", err)
	}
	return n, nil
}

// requireProject returns ErrNotFound when the project does not exist.
func (s *Store) requireProject(ctx context.Context, projectID string) error {
	return s.requireRow(ctx, s.db, "project", `SELECT 1 FROM projects WHERE id = ?`, projectID)
}

// requireRow returns ErrNotFound (naming what) when q finds no row.
func (s *Store) requireRow(ctx context.Context, q queryer, what, query string, args ...any) error {
	var one int
	if err := q.GetContext(ctx, &one, s.rebind(query), args...); err != nil {
		return wrap(what, err)
	}
	return nil
}

// list runs a keyset-paginated SELECT ordered by id DESC: at most page.Size rows with id < page.After, each
// converted by conv, read up to page.MaxBytes (see selectPage).
func list[R, T any](ctx context.Context, s *Store, cols, table string, where []string, args []any, page store.Page,
	conv func(R) (T, error)) ([]T, error) {
	where, args = pageCond(page, "id", where, args)
	q := `SELECT ` + cols + ` FROM ` + table + whereClause(where) + ` ORDER BY id DESC LIMIT ?`
	return selectPage(ctx, s, s.rebind(q), append(args, limit(page)), page, conv)
}

// selectPage runs a query of one page and converts its rows with conv, one at a time: with a page.MaxBytes it
// stops reading at the row whose record takes the page's size (store.RecordBytes) to the budget, so that a page
// of large rows never holds more than the budget and one row in memory.
func selectPage[R, T any](ctx context.Context, s *Store, q string, args []any, page store.Page, conv func(R) (T, error)) ([]T, error) {
	rows, err := s.db.QueryxContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	size := 0
	for rows.Next() {
		var r R
		if err := rows.StructScan(&r); err != nil {
			return nil, err
		}
		rec, err := conv(r)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
		if page.MaxBytes > 0 {
			if size += store.RecordBytes(rec); size >= page.MaxBytes {
				break
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}

// noErr adapts a conversion that cannot fail to list.
func noErr[R, T any](f func(R) T) func(R) (T, error) {
	return func(r R) (T, error) { return f(r), nil }
}

// whereClause joins conditions with AND.
func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	out := " WHERE " + conds[0]
	for _, c := range conds[1:] {
		out += " AND " + c
	}
	return out
}
