package storesql_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
)

// TestSQLiteFilesArePrivate (issue 21 item 16): the SQLite database and its -wal and -shm files are created 0600
// whatever the umask, files an older version created 0644 are made 0600 at start, and a data directory others can
// read is warned about.
func TestSQLiteFilesArePrivate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		dirMode  os.FileMode
		existing bool // the database files exist already, 0644
		warn     bool
	}{
		{"new database, private directory", 0o700, false, false},
		{"database of an older version", 0o700, true, false},
		{"directory others can read", 0o755, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "hookd-data")
			require.NoError(t, os.Mkdir(dir, c.dirMode))
			require.NoError(t, os.Chmod(dir, c.dirMode))
			keys := secret.NewRandom()
			if c.existing {
				s, err := storesql.Open(ctx, storesql.Config{URL: dir, Keyring: keys, Logger: slog.New(slog.DiscardHandler)})
				require.NoError(t, err)
				require.NoError(t, s.Close())
				entries, err := os.ReadDir(dir)
				require.NoError(t, err)
				for _, e := range entries {
					require.NoError(t, os.Chmod(filepath.Join(dir, e.Name()), 0o644))
				}
			}
			var logs bytes.Buffer
			s, err := storesql.Open(ctx, storesql.Config{URL: dir, Keyring: keys, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			require.NoError(t, s.Store().CreateProject(ctx, &store.Project{Name: "p"})) // the WAL is written
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			var names []string
			for _, e := range entries {
				fi, err := e.Info()
				require.NoError(t, err)
				names = append(names, e.Name())
				assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "mode of %s", e.Name())
			}
			assert.Subset(t, names, []string{"hookd.db", "hookd.db-wal", "hookd.db-shm"})
			assert.Equal(t, c.warn, bytes.Contains(logs.Bytes(), []byte("data directory can be read by other users")), "warning in %s", logs.String())
		})
	}
}
