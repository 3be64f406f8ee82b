package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// brokenStore fails the webhook reads with err (a real error of the database driver).
type brokenStore struct {
	store.Store
	err error
}

func (b brokenStore) GetWebhook(context.Context, string, string) (*store.Webhook, error) {
	return nil, fmt.Errorf("get webhook: %w", b.err)
}

func (b brokenStore) ListWebhooks(context.Context, string, string, store.Page) ([]store.Webhook, error) {
	return nil, fmt.Errorf("list webhooks: %w", b.err)
}

func (b brokenStore) FilterWebhooks(context.Context, string, store.WebhookFilter, store.Page) ([]store.Webhook, error) {
	return nil, fmt.Errorf("list webhooks: %w", b.err)
}

// TestInternalErrorsStayInternal makes the store fail with a genuine SQL error of each database and calls the
// failing RPCs over every protocol: the client sees code internal and the message "internal error", nothing of
// the SQL; the server's log has the whole error.
func TestInternalErrorsStayInternal(t *testing.T) {
	t.Parallel()
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
				_, sqlErr := st.Pool().ExecContext(context.Background(), `SELECT id FROM no_such_table WHERE id = 'x'`)
				require.Error(t, sqlErr)
				require.Contains(t, sqlErr.Error(), "no_such_table", "the driver's error names the table")
				logs := &syncBuffer{}
				e := setupOver(t, st, protocol, func(d *Deps) {
					d.Store = brokenStore{Store: d.Store, err: sqlErr}
					d.Log = slog.New(slog.NewTextHandler(logs, nil))
				})
				ctx := context.Background()
				_, getErr := e.admin.webhooks.GetWebhook(ctx, creq(&hookdv1.GetWebhookRequest{Id: "wh_x"}))
				_, listErr := e.viewer.webhooks.ListWebhooks(ctx, creq(&hookdv1.ListWebhooksRequest{}))
				for _, err := range []error{getErr, listErr} {
					var cerr *connect.Error
					require.True(t, errors.As(err, &cerr), "not a connect error: %v", err)
					require.Equal(t, connect.CodeInternal, cerr.Code())
					require.Equal(t, apierr.InternalMessage, cerr.Message())
					require.NotContains(t, err.Error(), "no_such_table")
					require.Empty(t, cerr.Details())
				}
				require.Contains(t, logs.String(), "no_such_table", "the boundary logs the error it hides")
				require.Contains(t, logs.String(), "hookd.v1.WebhookService/ListWebhooks")
			})
		})
	}
}

// syncBuffer is a bytes.Buffer for a logger written by handlers and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
