package storesql

import (
	"context"
	"fmt"
	"time"

	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/store"
)

const portalSessionCols = `id, project_id, tenant_id, role, hash, allowed_origins, event_types, title, accent_color,
	create_time, expire_time, revoke_time`

type portalSessionRow struct {
	ID             string   `db:"id"`
	ProjectID      string   `db:"project_id"`
	TenantID       string   `db:"tenant_id"`
	Role           string   `db:"role"`
	Hash           []byte   `db:"hash"`
	AllowedOrigins jsonText `db:"allowed_origins"`
	EventTypes     jsonText `db:"event_types"`
	Title          string   `db:"title"`
	AccentColor    string   `db:"accent_color"`
	CreateTime     dbTime   `db:"create_time"`
	ExpireTime     dbTime   `db:"expire_time"`
	RevokeTime     nullTime `db:"revoke_time"`
}

func (r portalSessionRow) record() (store.PortalSession, error) {
	ps := store.PortalSession{
		ID: r.ID, ProjectID: r.ProjectID, TenantID: r.TenantID, Role: store.Role(r.Role), Hash: r.Hash, Title: r.Title,
		AccentColor: r.AccentColor, CreateTime: r.CreateTime.t, ExpireTime: r.ExpireTime.t, RevokeTime: r.RevokeTime.ptr(),
	}
	if err := r.AllowedOrigins.decode(&ps.AllowedOrigins); err != nil {
		return ps, err
	}
	return ps, r.EventTypes.decode(&ps.EventTypes)
}

// CreatePortalSession implements store.PortalSessions.
func (s *Store) CreatePortalSession(ctx context.Context, ps *store.PortalSession) error {
	ps.CreateTime = orNow(ps.CreateTime)
	ps.ExpireTime = ts(ps.ExpireTime)
	if ps.ID == "" {
		ps.ID = id.New(id.PortalSession, ps.CreateTime)
	}
	origins, err := jsonArg(nonNil(ps.AllowedOrigins))
	if err != nil {
		return err
	}
	types, err := jsonArg(nonNil(ps.EventTypes))
	if err != nil {
		return err
	}
	if err := s.requireProject(ctx, ps.ProjectID); err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.rebind(`INSERT INTO portal_sessions (`+portalSessionCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), ps.ID, ps.ProjectID, ps.TenantID, string(ps.Role), ps.Hash, origins,
		types, ps.Title, ps.AccentColor, ps.CreateTime, ps.ExpireTime, tsPtr(ps.RevokeTime))
	return wrap("create portal session", err)
}

// PortalSessionByHash implements store.PortalSessions.
func (s *Store) PortalSessionByHash(ctx context.Context, hash []byte) (*store.PortalSession, error) {
	return s.portalSession(ctx, "find portal session", `hash = ?`, hash)
}

// GetPortalSession implements store.PortalSessions.
func (s *Store) GetPortalSession(ctx context.Context, sessionID string) (*store.PortalSession, error) {
	return s.portalSession(ctx, "get portal session", `id = ?`, sessionID)
}

func (s *Store) portalSession(ctx context.Context, what, where string, arg any) (*store.PortalSession, error) {
	var r portalSessionRow
	if err := s.db.GetContext(ctx, &r, s.rebind(`SELECT `+portalSessionCols+` FROM portal_sessions WHERE `+where), arg); err != nil {
		return nil, wrap(what, err)
	}
	ps, err := r.record()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &ps, nil
}

// RevokePortalSessions implements store.PortalSessions.
func (s *Store) RevokePortalSessions(ctx context.Context, projectID, tenantID string, now time.Time) ([][]byte, error) {
	var hashes [][]byte
	err := s.db.SelectContext(ctx, &hashes, s.rebind(`UPDATE portal_sessions SET revoke_time = ?
		WHERE project_id = ? AND tenant_id = ? AND revoke_time IS NULL AND expire_time > ? RETURNING hash`),
		ts(now), projectID, tenantID, ts(now))
	return hashes, wrap("revoke portal sessions", err)
}

// PortalOrigins implements store.PortalSessions.
func (s *Store) PortalOrigins(ctx context.Context, now time.Time) ([]string, error) {
	var rows []jsonText
	if err := s.db.SelectContext(ctx, &rows, s.rebind(`SELECT DISTINCT allowed_origins FROM portal_sessions
		WHERE expire_time > ? AND revoke_time IS NULL`), ts(now)); err != nil {
		return nil, wrap("list portal origins", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range rows {
		var origins []string
		if err := r.decode(&origins); err != nil {
			return nil, fmt.Errorf("list portal origins: %w", err)
		}
		for _, o := range origins {
			if !seen[o] {
				seen[o] = true
				out = append(out, o)
			}
		}
	}
	return out, nil
}
