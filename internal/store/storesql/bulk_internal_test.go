package storesql

import (
	"encoding/binary"
	"testing"
	"time"
)

// TestPGArrayTimestamps: binary timestamps count microseconds from 2000-01-01 UTC, also far from it.
func TestPGArrayTimestamps(t *testing.T) {
	for _, c := range []struct {
		t    time.Time
		want int64
	}{
		{time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(2000, 1, 1, 0, 0, 1, 500, time.UTC), 1_000_000},
		{time.Date(2000, 1, 1, 2, 0, 0, 0, time.FixedZone("", 2*3600)), 0},
		{time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC), -1_000_000},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), -63082281600_000_000},
		{time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC), 15778540800_000_000},
	} {
		b, err := pgArray("timestamptz", [][]any{{c.t}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		// header (20 bytes), element length (4), element (8)
		if n := binary.BigEndian.Uint32(b[20:]); n != 8 {
			t.Fatalf("%v: element length %d", c.t, n)
		}
		if got := int64(binary.BigEndian.Uint64(b[24:])); got != c.want {
			t.Errorf("%v: %d µs, want %d", c.t, got, c.want)
		}
	}
}
