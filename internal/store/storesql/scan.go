package storesql

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// dbTime scans a time column of either dialect: PostgreSQL returns time.Time, SQLite returns time.Time
// for DATETIME columns or text where it cannot tell the column type (RETURNING, expressions).
type dbTime struct{ t time.Time }

// timeLayouts are the text forms SQLite hands back.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999 -0700 MST",
}

// Scan implements sql.Scanner.
func (d *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		d.t = v.UTC()
		return nil
	case string:
		return d.parse(v)
	case []byte:
		return d.parse(string(v))
	case nil:
		d.t = time.Time{}
		return nil
	default:
		return fmt.Errorf("scan time: unsupported type %T", src)
	}
}

func (d *dbTime) parse(s string) error {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			d.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("scan time: unrecognized format %q", s)
}

// nullTime scans an optional time column.
type nullTime struct {
	t     time.Time
	valid bool
}

// Scan implements sql.Scanner.
func (n *nullTime) Scan(src any) error {
	if src == nil {
		n.t, n.valid = time.Time{}, false
		return nil
	}
	var d dbTime
	if err := d.Scan(src); err != nil {
		return err
	}
	n.t, n.valid = d.t, true
	return nil
}

// ptr returns the time or nil.
func (n nullTime) ptr() *time.Time {
	if !n.valid {
		return nil
	}
	t := n.t
	return &t
}

// jsonText scans a JSON column (jsonb on PostgreSQL, TEXT on SQLite) as raw bytes; NULL scans as nil.
type jsonText []byte

// Scan implements sql.Scanner.
func (j *jsonText) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*j = nil
	case []byte:
		*j = append((*j)[:0], v...)
	case string:
		*j = jsonText(v)
	default:
		return fmt.Errorf("scan json: unsupported type %T", src)
	}
	return nil
}

// raw returns the JSON, nil when NULL or empty.
func (j jsonText) raw() json.RawMessage {
	if len(j) == 0 {
		return nil
	}
	return json.RawMessage(append([]byte(nil), j...))
}

// decode unmarshals the JSON into v (left unchanged when NULL or empty).
func (j jsonText) decode(v any) error {
	if len(j) == 0 {
		return nil
	}
	if err := json.Unmarshal(j, v); err != nil {
		return fmt.Errorf("decode json column: %w", err)
	}
	return nil
}

// jsonArg encodes v as JSON text for a JSON column (a textArg: text, not bytes).
func jsonArg(v any) (textArg, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode json column: %w", err)
	}
	return b, nil
}

// rawArg passes raw JSON to a nullable JSON column: NULL when empty.
type rawArg json.RawMessage

// Value implements driver.Valuer.
func (r rawArg) Value() (driver.Value, error) {
	if len(r) == 0 {
		return nil, nil
	}
	return string(r), nil
}

// textArg passes bytes to a text or JSON column as text (lib/pq would send []byte as bytea, SQLite as a BLOB);
// batch inserts on PostgreSQL copy the bytes into their array argument without a string in between.
type textArg []byte

// Value implements driver.Valuer.
func (t textArg) Value() (driver.Value, error) { return string(t), nil }

// nonNil returns s or an empty slice, so that JSON columns hold [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
