package storesql

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// postgresURL adds the connection settings hookd relies on to a PostgreSQL URL: UTC makes timestamps print the
// same everywhere, jit=off keeps compilation out of short statements, and binary_parameters=yes (always set) sends each parameterized statement in one round trip and
// []byte arguments in binary form, which the array arguments of batch inserts need. Other settings already in
// the URL win. Ad hoc statements are unnamed, so PostgreSQL plans each for its own arguments (the claim statement
// never sticks to a plan made while the queue was empty); only the hot statements are prepared (hotStatements).
func postgresURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw // lib/pq reports the malformed URL
	}
	q := u.Query()
	if !q.Has("timezone") && !q.Has("TimeZone") {
		q.Set("timezone", "UTC")
	}
	q.Set("binary_parameters", "yes")
	if !q.Has("application_name") {
		q.Set("application_name", "hookd")
	}
	// hookd's statements are short; JIT compilation, which PostgreSQL starts by estimated cost, took ~0.9 s per
	// claim once a million deliveries were queued (the estimate grows with the queue, the work does not).
	if !q.Has("jit") {
		q.Set("jit", "off")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// withParam returns the URL with a query parameter set.
func withParam(raw, key, value string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// sqliteDSN turns a data directory (or a .db file path) into a modernc.org/sqlite DSN: WAL journal,
// busy timeout, foreign keys, BEGIN IMMEDIATE transactions (no lock upgrade deadlocks) and a time format
// whose text order is time order. It creates the directory and returns the database file path.
func sqliteDSN(target string) (dsn, file string, err error) {
	if target == "" {
		target = DefaultDataDir
	}
	target = strings.TrimPrefix(target, "sqlite://")
	target = strings.TrimPrefix(target, "file:")
	file = target
	switch filepath.Ext(target) {
	case ".db", ".sqlite", ".sqlite3":
	default:
		file = filepath.Join(target, sqliteFileName)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return "", "", fmt.Errorf("create sqlite data directory: %w", err)
	}
	params := url.Values{}
	params.Add("_pragma", "busy_timeout(10000)")
	params.Add("_pragma", "journal_mode(WAL)")
	params.Add("_pragma", "foreign_keys(1)")
	params.Add("_pragma", "synchronous(NORMAL)")
	// A row's old version (an update) or a deleted row is overwritten with zeros within its page, at no extra I/O,
	// so that an erased subject (EraseSubject) leaves no stale copy in the file; EraseSubject itself deletes with
	// secure_delete ON, which also zeroes freed overflow pages.
	params.Add("_pragma", "secure_delete(FAST)")
	params.Set("_txlock", "immediate")
	params.Set("_time_format", "sqlite")
	return file + "?" + params.Encode(), file, nil
}
