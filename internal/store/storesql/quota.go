package storesql

import (
	"context"
	"fmt"

	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/store"
)

// CountObjects counts a project's objects of a kind (for quotas); the operational event types are not counted.
func (s *Store) CountObjects(ctx context.Context, projectID string, kind store.ObjectKind) (int, error) {
	switch kind {
	case store.KindIntegration, store.KindWebhook, store.KindTrigger, store.KindEventType, store.KindSubscription:
	default:
		return 0, fmt.Errorf("count objects: unknown kind %q", kind)
	}
	q := `SELECT COUNT(*) FROM ` + string(kind) + ` WHERE project_id = ?`
	if kind == store.KindEventType {
		q += ` AND name NOT LIKE '` + health.OperationalPrefix + `%'`
	}
	var n int
	err := s.db.GetContext(ctx, &n, s.rebind(q), projectID)
	return n, wrap("count "+string(kind), err)
}
