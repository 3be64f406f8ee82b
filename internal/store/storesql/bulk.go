package storesql

import (
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// bulkInsert describes a multi-row INSERT: the statement up to the column list, the PostgreSQL type of each
// column and what follows the rows (ON CONFLICT, RETURNING).
type bulkInsert struct {
	// into is "INSERT INTO table (col, …)".
	into string
	// pgTypes are the PostgreSQL types of the columns, in order.
	pgTypes []string
	// suffix follows the rows.
	suffix string
	// pgJoin, on PostgreSQL, keeps only the rows that join (the unnested rows are "u", named as the columns).
	pgJoin string
	// pgText is the PostgreSQL statement, built once by newBulkInsert.
	pgText string
}

// newBulkInsert returns b with its PostgreSQL statement built.
func newBulkInsert(b bulkInsert) bulkInsert {
	b.pgText = b.buildPGQuery()
	return b
}

// query returns the statement and arguments that insert rows, ready to run (placeholders in the dialect's form).
// On SQLite it is INSERT … VALUES (?, …), (?, …).
// On PostgreSQL it is INSERT … SELECT * FROM unnest($1::type[], …) with one binary array per column: the same
// short statement whatever the number of rows (so it can be prepared once), and arguments the server takes
// without parsing or unescaping.
func (b bulkInsert) query(pg bool, rows [][]any) (string, []any, error) {
	if !pg {
		q, args := valuesQuery(b.into+" VALUES ", rows, b.suffix)
		return q, args, nil
	}
	args, err := b.pgArgs(rows)
	return b.pgText, args, err
}

// pgArgs are the PostgreSQL arguments that insert rows: one binary array per column.
func (b bulkInsert) pgArgs(rows [][]any) ([]any, error) {
	args := make([]any, len(b.pgTypes))
	for c, typ := range b.pgTypes {
		arr, err := pgArray(typ, rows, c)
		if err != nil {
			return nil, fmt.Errorf("%s: column %d: %w", b.into, c+1, err)
		}
		args[c] = arr
	}
	return args, nil
}

// pgWriteChain is one PostgreSQL statement that runs the bulk inserts parts as data-modifying CTEs (which run to
// completion whether read or not), their parameters numbered from first (their arguments are the parts' pgArgs
// one after the other), after the CTEs of head (none: ""), and returns one row with one column, ok. With guard
// (a WHERE clause), each part writes its rows only where guard holds.
func pgWriteChain(head string, first int, guard, ok string, parts ...bulkInsert) string {
	ctes := []string{}
	if head != "" {
		ctes = append(ctes, head)
	}
	for i, b := range parts {
		b.pgJoin = guard
		ctes = append(ctes, "part"+strconv.Itoa(i)+" AS ("+b.buildPGQueryFrom(first)+")")
		first += len(b.pgTypes)
	}
	return "WITH " + strings.Join(ctes, ",\n") + "\nSELECT " + ok + " AS ok"
}

// buildPGQuery is the PostgreSQL statement: INSERT … SELECT * FROM unnest($1::type[], …) suffix, or with pgJoin
// INSERT … SELECT u.* FROM unnest(…) AS u(columns) join suffix.
func (b bulkInsert) buildPGQuery() string { return b.buildPGQueryFrom(1) }

// buildPGQueryFrom is buildPGQuery with its parameters numbered from first.
func (b bulkInsert) buildPGQueryFrom(first int) string {
	var sb strings.Builder
	sb.WriteString(b.into)
	if b.pgJoin != "" {
		sb.WriteString(" SELECT u.*")
	} else {
		sb.WriteString(" SELECT *")
	}
	sb.WriteString(" FROM unnest(")
	for c, typ := range b.pgTypes {
		if c > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("$" + strconv.Itoa(first+c) + "::" + typ + "[]")
	}
	sb.WriteString(")")
	if b.pgJoin != "" {
		cols := b.into[strings.IndexByte(b.into, '(')+1 : strings.LastIndexByte(b.into, ')')]
		sb.WriteString(" AS u(" + cols + ") " + b.pgJoin)
	}
	sb.WriteString(b.suffix)
	return sb.String()
}

// textArray encodes strings as a binary PostgreSQL text[] (for "= ANY($n::text[])").
func textArray(vals []string) []byte {
	rows := make([][]any, len(vals))
	for i, v := range vals {
		rows[i] = []any{v}
	}
	b, _ := pgArray("text", rows, 0) // cannot fail: strings are text
	return b
}

// pgElem is how an array element of one PostgreSQL type is sent in binary form.
type pgElem struct {
	oid    uint32
	encode func(b []byte, v any) ([]byte, error)
}

// pgEpochMicros is the zero of PostgreSQL's binary timestamps (2000-01-01 UTC) in Unix microseconds.
var pgEpochMicros = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// pgElems are the column types bulkInsert supports, with their type OIDs (pg_type.oid).
var pgElems = map[string]pgElem{
	"text":        {25, appendText},
	"json":        {114, appendText},
	"boolean":     {16, appendBool},
	"integer":     {23, appendInt32},
	"bigint":      {20, appendInt64},
	"timestamptz": {1184, appendTimestamp},
}

// pgArray encodes column c of rows as a one-dimensional PostgreSQL array in binary format (array_recv): each
// element is length-prefixed, so nothing is escaped and the server copies text elements as they are.
func pgArray(typ string, rows [][]any, c int) ([]byte, error) {
	el, ok := pgElems[typ]
	if !ok {
		return nil, fmt.Errorf("no binary encoding for type %s", typ)
	}
	size := 20
	for _, row := range rows {
		switch v := row[c].(type) {
		case string:
			size += 4 + len(v)
		case textArg:
			size += 4 + len(v)
		case rawArg:
			size += 4 + len(v)
		default:
			size += 4 + 8
		}
	}
	b := make([]byte, 20, size)
	binary.BigEndian.PutUint32(b[0:], 1) // dimensions
	binary.BigEndian.PutUint32(b[8:], el.oid)
	binary.BigEndian.PutUint32(b[12:], uint32(len(rows)))
	binary.BigEndian.PutUint32(b[16:], 1) // lower bound
	for r, row := range rows {
		v := row[c]
		switch x := v.(type) { // JSON held as bytes: no copy to a string
		case textArg:
			v = []byte(x)
		case rawArg:
			v = nil
			if len(x) > 0 {
				v = []byte(x)
			}
		}
		if vr, ok := v.(driver.Valuer); ok {
			var err error
			if v, err = vr.Value(); err != nil {
				return nil, err
			}
		}
		if v == nil {
			binary.BigEndian.PutUint32(b[4:], 1) // has NULLs
			b = binary.BigEndian.AppendUint32(b, 0xFFFFFFFF)
			continue
		}
		at := len(b)
		b = append(b, 0, 0, 0, 0)
		var err error
		if b, err = el.encode(b, v); err != nil {
			return nil, fmt.Errorf("row %d: %w", r, err)
		}
		binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	}
	return b, nil
}

func appendText(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return append(b, x...), nil
	case []byte:
		return append(b, x...), nil
	}
	return nil, fmt.Errorf("want text, got %T", v)
}

func appendBool(b []byte, v any) ([]byte, error) {
	x, ok := v.(bool)
	if !ok {
		return nil, fmt.Errorf("want bool, got %T", v)
	}
	if x {
		return append(b, 1), nil
	}
	return append(b, 0), nil
}

func appendInt32(b []byte, v any) ([]byte, error) {
	n, err := toInt64(v)
	if err != nil {
		return nil, err
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return nil, fmt.Errorf("%d is out of the range of integer", n)
	}
	return binary.BigEndian.AppendUint32(b, uint32(int32(n))), nil
}

func appendInt64(b []byte, v any) ([]byte, error) {
	n, err := toInt64(v)
	if err != nil {
		return nil, err
	}
	return binary.BigEndian.AppendUint64(b, uint64(n)), nil
}

func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	}
	return 0, fmt.Errorf("want an integer, got %T", v)
}

func appendTimestamp(b []byte, v any) ([]byte, error) {
	t, ok := v.(time.Time)
	if !ok {
		return nil, fmt.Errorf("want time.Time, got %T", v)
	}
	return binary.BigEndian.AppendUint64(b, uint64(t.UnixMicro()-pgEpochMicros)), nil
}

// column turns values into one-column rows for pgArray.
func column[T any](vals []T) [][]any {
	rows := make([][]any, len(vals))
	for i, v := range vals {
		rows[i] = []any{v}
	}
	return rows
}

// int64Array encodes integers as a binary PostgreSQL int[] (integer elements).
func int64Array(vals []int64) []byte {
	b, err := pgArray("integer", column(vals), 0)
	if err != nil { // an int64 beyond int32 is a caller bug: send bigint elements, PostgreSQL reports it
		b, _ = pgArray("bigint", column(vals), 0)
	}
	return b
}

// boolArray encodes booleans as a binary PostgreSQL boolean[].
func boolArray(vals []bool) []byte {
	b, _ := pgArray("boolean", column(vals), 0) // cannot fail
	return b
}

// timeArray encodes times as a binary PostgreSQL timestamptz[].
func timeArray(vals []time.Time) []byte {
	b, _ := pgArray("timestamptz", column(vals), 0) // cannot fail
	return b
}
