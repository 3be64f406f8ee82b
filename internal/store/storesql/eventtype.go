package storesql

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/store"
)

const (
	eventTypeCols = `id, project_id, name, description, schema, sample_payload, create_time, update_time`

	// eventTypeReadCols adds the version (written by updates only).
	eventTypeReadCols = eventTypeCols + `, version`

	insertEventType = `INSERT INTO event_types (` + eventTypeCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

	updateEventType = `UPDATE event_types SET name = ?, description = ?, schema = ?, sample_payload = ?, update_time = ?,
		version = version + 1 WHERE project_id = ? AND id = ? AND version = ?`

	eventTypeInUse = `SELECT EXISTS (SELECT 1 FROM subscription_event_types WHERE project_id = ? AND event_type = ?)`
)

type eventTypeRow struct {
	ID            string   `db:"id"`
	ProjectID     string   `db:"project_id"`
	Name          string   `db:"name"`
	Description   string   `db:"description"`
	Schema        jsonText `db:"schema"`
	SamplePayload jsonText `db:"sample_payload"`
	CreateTime    dbTime   `db:"create_time"`
	UpdateTime    dbTime   `db:"update_time"`
	Version       int64    `db:"version"`
}

func (r eventTypeRow) record() store.EventType {
	return store.EventType{
		ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Description: r.Description, Schema: r.Schema.raw(),
		SamplePayload: r.SamplePayload.raw(), CreateTime: r.CreateTime.t, UpdateTime: r.UpdateTime.t,
		Version: r.Version,
	}
}

// CreateEventType stores et, filling in its id and times when empty; ErrAlreadyExists when the name is taken.
func (s *Store) CreateEventType(ctx context.Context, et *store.EventType) error {
	et.CreateTime = orNow(et.CreateTime)
	et.UpdateTime = et.CreateTime
	if et.ID == "" {
		et.ID = id.New(id.EventType, et.CreateTime)
	}
	_, err := s.db.ExecContext(ctx, s.rebind(insertEventType), et.ID, et.ProjectID, et.Name, et.Description,
		rawArg(et.Schema), rawArg(et.SamplePayload), et.CreateTime, et.UpdateTime)
	return wrap("create event type", err)
}

// GetEventType returns an event type of the project by id.
func (s *Store) GetEventType(ctx context.Context, projectID, eventTypeID string) (*store.EventType, error) {
	return s.getEventType(ctx, "id", projectID, eventTypeID)
}

// GetEventTypeByName returns an event type of the project by name.
func (s *Store) GetEventTypeByName(ctx context.Context, projectID, name string) (*store.EventType, error) {
	return s.getEventType(ctx, "name", projectID, name)
}

func (s *Store) getEventType(ctx context.Context, col, projectID, value string) (*store.EventType, error) {
	var r eventTypeRow
	if err := s.db.GetContext(ctx, &r, s.rebind(`SELECT `+eventTypeReadCols+` FROM event_types WHERE project_id = ? AND `+col+` = ?`),
		projectID, value); err != nil {
		return nil, wrap("get event type", err)
	}
	et := r.record()
	return &et, nil
}

// ListEventTypes lists a project's event types, newest first.
func (s *Store) ListEventTypes(ctx context.Context, projectID string, page store.Page) ([]store.EventType, error) {
	ets, err := list(ctx, s, eventTypeReadCols, "event_types", []string{"project_id = ?"}, []any{projectID}, page, noErr(eventTypeRow.record))
	return ets, wrap("list event types", err)
}

// UpdateEventType replaces the event type's fields over the version it was read at (ErrStale when it changed
// since); renaming one that subscriptions name is an ErrConflict.
func (s *Store) UpdateEventType(ctx context.Context, et *store.EventType) error {
	et.UpdateTime = orNow(et.UpdateTime)
	version := et.Version
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var old string
		if err := tx.GetContext(ctx, &old, s.rebind(`SELECT name FROM event_types WHERE project_id = ? AND id = ?`),
			et.ProjectID, et.ID); err != nil {
			return wrap("update event type", err)
		}
		if old != et.Name {
			var inUse bool
			if err := tx.GetContext(ctx, &inUse, s.rebind(eventTypeInUse), et.ProjectID, old); err != nil {
				return wrap("update event type", err)
			}
			if inUse {
				return wrap("update event type: subscriptions name it", store.ErrConflict)
			}
		}
		return s.updateVersioned(ctx, tx, "update event type", "event_types", updateEventType,
			[]any{et.Name, et.Description, rawArg(et.Schema), rawArg(et.SamplePayload), et.UpdateTime}, et.ProjectID, et.ID, &version)
	})
	if err == nil {
		et.Version = version // only once committed
	}
	return err
}

// DeleteEventType deletes an event type; ErrConflict while a subscription names it.
func (s *Store) DeleteEventType(ctx context.Context, projectID, eventTypeID string) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var name string
		if err := tx.GetContext(ctx, &name, s.rebind(`SELECT name FROM event_types WHERE project_id = ? AND id = ?`),
			projectID, eventTypeID); err != nil {
			return wrap("delete event type", err)
		}
		var inUse bool
		if err := tx.GetContext(ctx, &inUse, s.rebind(eventTypeInUse), projectID, name); err != nil {
			return wrap("delete event type", err)
		}
		if inUse {
			return wrap("delete event type: subscriptions name it", store.ErrConflict)
		}
		res, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM event_types WHERE project_id = ? AND id = ?`), projectID, eventTypeID)
		return affectedOne("delete event type", res, err)
	})
}
