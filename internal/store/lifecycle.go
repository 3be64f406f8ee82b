package store

import (
	"context"
	"time"
)

// Data lifecycle (issue 26): a project may keep its log for less than the instance's retention, drop payloads
// earlier than the rest, and erase everything about one subject.

// ProjectLifecycle is a project's retention settings, as the purger reads them.
type ProjectLifecycle struct {
	ProjectID string
	// Retention is how long the project's log is kept (0: the instance's retention).
	Retention time.Duration
	// PayloadRetention is how long payloads and bodies are kept (0: as long as the log).
	PayloadRetention time.Duration
	// PayloadExpireTime is how far payload expiry got: the payloads of log rows made before it are dropped
	// already (zero: nothing dropped yet).
	PayloadExpireTime time.Time
}

// Effective returns the project's retention and payload retention under the instance's retention: the project's
// own when shorter, else the instance's; a payload retention that is zero or not shorter than the retention is
// zero (payloads are kept with the rest).
func (l ProjectLifecycle) Effective(instance time.Duration) (retention, payload time.Duration) {
	retention = instance
	if l.Retention > 0 && l.Retention < instance {
		retention = l.Retention
	}
	if l.PayloadRetention > 0 && l.PayloadRetention < retention {
		payload = l.PayloadRetention
	}
	return retention, payload
}

// EraseResult counts what EraseSubject deleted.
type EraseResult struct {
	// Cancelled counts the unfinished deliveries cancelled before they were deleted.
	Cancelled int
	Events    int
	// Deliveries, Attempts and Executions count the deleted rows (Deliveries includes the deliveries of the
	// hookd.delivery.failed events that named the subject, which are deleted too).
	Deliveries      int
	Attempts        int
	Executions      int
	IdempotencyKeys int
	// OperationalEvents counts the hookd.delivery.failed events deleted because their payload named the subject.
	OperationalEvents int
}

// Lifecycle is the part of the store that retention and erasure use.
type Lifecycle interface {
	// UpdateProject writes p's name, Retention and PayloadRetention and sets its UpdateTime; ErrNotFound when
	// it does not exist.
	UpdateProject(ctx context.Context, p *Project) error
	// EraseSubject deletes every event, delivery, attempt and execution of the project about subject (and the
	// hookd.delivery.failed events naming it), cancelling unfinished deliveries first, in transactions of at
	// most batch rows, and publishes hookd.subject.erased (with a SHA-256 of the subject, never the subject).
	EraseSubject(ctx context.Context, projectID, subject string, now time.Time, batch int) (EraseResult, error)
}
