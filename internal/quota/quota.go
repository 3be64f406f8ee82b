// Package quota caps how many objects of each kind a project may hold, so that one tenant (or a leaked MEMBER
// key) cannot grow the configuration tables, and the sender's per-delivery work, without bound.
package quota

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	"github.com/hookd/hookd/internal/store"
)

// Default per-project limits (each has a `hookd serve` flag; 0 there means unlimited).
const (
	DefaultIntegrations  = 200
	DefaultWebhooks      = 1000
	DefaultTriggers      = 200
	DefaultEventTypes    = 1000
	DefaultSubscriptions = 5000
)

// Limits are the per-project caps; a zero or negative limit is no cap.
type Limits struct {
	Integrations  int
	Webhooks      int
	Triggers      int
	EventTypes    int
	Subscriptions int
}

// Defaults returns the default limits.
func Defaults() Limits {
	return Limits{Integrations: DefaultIntegrations, Webhooks: DefaultWebhooks, Triggers: DefaultTriggers, EventTypes: DefaultEventTypes, Subscriptions: DefaultSubscriptions}
}

// Counter counts a project's objects (the store implements it).
type Counter interface {
	CountObjects(ctx context.Context, projectID string, kind store.ObjectKind) (int, error)
}

// limit returns the cap of a kind.
func (l Limits) limit(kind store.ObjectKind) int {
	switch kind {
	case store.KindIntegration:
		return l.Integrations
	case store.KindWebhook:
		return l.Webhooks
	case store.KindTrigger:
		return l.Triggers
	case store.KindEventType:
		return l.EventTypes
	case store.KindSubscription:
		return l.Subscriptions
	}
	return 0
}

// Check returns a resource_exhausted error when the project already holds its limit of kind (nil when it may
// create one more). Concurrent creations may pass the check together: the cap holds to within their number.
// Errors of the counter are returned as they are.
func (l Limits) Check(ctx context.Context, c Counter, projectID string, kind store.ObjectKind) error {
	return l.CheckN(ctx, c, projectID, kind, 1)
}

// CheckN is Check for creating more objects of kind at once (nil when the project may create more; more <= 0
// checks nothing).
func (l Limits) CheckN(ctx context.Context, c Counter, projectID string, kind store.ObjectKind, more int) error {
	max := l.limit(kind)
	if max <= 0 || more <= 0 {
		return nil
	}
	n, err := c.CountObjects(ctx, projectID, kind)
	if err != nil {
		return fmt.Errorf("check quota: %w", err)
	}
	if n+more > max {
		need := ""
		if more > 1 {
			need = fmt.Sprintf("; this needs %d more", more)
		}
		return connect.NewError(connect.CodeResourceExhausted,
			fmt.Errorf("quota reached: the project has %d %s and may have at most %d%s (delete some, or ask the operator to raise the limit)", n, kind, max, need))
	}
	return nil
}
