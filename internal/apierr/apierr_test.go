package apierr_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/store"
)

// sqlText stands for what a driver puts in its errors: it must never reach a client.
const sqlText = `pq: relation "webhooks" does not exist (SELECT id FROM webhooks WHERE project_id = $1)`

func TestMap(t *testing.T) {
	t.Parallel()
	driver := errors.New(sqlText)
	cases := []struct {
		name string
		err  error
		code connect.Code
		msg  string
	}{
		{"connect errors pass", apierr.Invalid("name", "is required"), connect.CodeInvalidArgument, "name: is required"},
		{"wrapped connect errors pass", fmt.Errorf("check quota: %w", connect.NewError(connect.CodeResourceExhausted, errors.New("quota reached"))), connect.CodeResourceExhausted, "quota reached"},
		{"not found names the record", apierr.About("webhook", "wh_x", fmt.Errorf("get webhook: %w", store.ErrNotFound)), connect.CodeNotFound, `webhook "wh_x" not found`},
		{"not found without a record", fmt.Errorf("get: %w", store.ErrNotFound), connect.CodeNotFound, "not found"},
		{"already exists hides the constraint", apierr.About("integration", "int_1", fmt.Errorf("create integration: %w: %s", store.ErrAlreadyExists, sqlText)), connect.CodeAlreadyExists, `integration "int_1": already exists`},
		{"conflict hides the constraint", apierr.About("integration", "int_1", fmt.Errorf("delete integration: %w: %s", store.ErrConflict, sqlText)), connect.CodeFailedPrecondition, `integration "int_1": conflict`},
		{"canceled", fmt.Errorf("list webhooks: %w: %s", context.Canceled, sqlText), connect.CodeCanceled, "context canceled"},
		{"deadline", fmt.Errorf("list webhooks: %w", context.DeadlineExceeded), connect.CodeDeadlineExceeded, "context deadline exceeded"},
		{"anything else is internal", fmt.Errorf("list webhooks: %w", driver), connect.CodeInternal, apierr.InternalMessage},
		{"a record error that is not a store error is internal", apierr.About("webhook", "wh_x", driver), connect.CodeInternal, apierr.InternalMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			err := apierr.Map(context.Background(), slog.New(slog.NewTextHandler(&logs, nil)), c.err)
			var cerr *connect.Error
			require.ErrorAs(t, err, &cerr)
			assert.Equal(t, c.code, cerr.Code())
			assert.Contains(t, cerr.Message(), c.msg)
			assert.NotContains(t, cerr.Error(), "SELECT", "no SQL text reaches a client")
			assert.NotContains(t, cerr.Error(), "pq:")
			if c.code == connect.CodeInternal {
				assert.Equal(t, apierr.InternalMessage, cerr.Message())
				assert.Contains(t, logs.String(), "relation", "internal errors are logged in full")
			} else {
				assert.Empty(t, logs.String(), "only internal errors are logged")
			}
		})
	}
	require.NoError(t, apierr.Map(context.Background(), nil, nil))
	require.NoError(t, apierr.About("webhook", "wh_x", nil))
	require.NoError(t, apierr.FromStore(context.Background(), nil, "webhook", "wh_x", nil))
}

func TestInvalidCarriesBadRequest(t *testing.T) {
	t.Parallel()
	err := apierr.Invalid("routes[0].header", "%q is not a valid header name", "a b")
	var cerr *connect.Error
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, connect.CodeInvalidArgument, cerr.Code())
	assert.Equal(t, `routes[0].header: "a b" is not a valid header name`, cerr.Message())
	vs := apierr.FieldViolations(err)
	require.Len(t, vs, 1)
	assert.Equal(t, "routes[0].header", vs[0].GetField())
	assert.Equal(t, `"a b" is not a valid header name`, vs[0].GetDescription())
	assert.Nil(t, apierr.FieldViolations(errors.New("plain")))
}

// scripted is the error the failing handlers return (set by the test between calls).
type scripted struct{ v atomic.Pointer[error] }

func (s *scripted) set(err error) { s.v.Store(&err) }
func (s *scripted) get() error    { return *s.v.Load() }

// failingProjects answers GetProject with the scripted error.
type failingProjects struct {
	hookdv1connect.UnimplementedProjectServiceHandler
	err *scripted
}

func (f failingProjects) GetProject(context.Context, *connect.Request[hookdv1.GetProjectRequest]) (*connect.Response[hookdv1.GetProjectResponse], error) {
	return nil, f.err.get()
}

// failingDeliveries ends the ExportDeliveries stream with the scripted error.
type failingDeliveries struct {
	hookdv1connect.UnimplementedDeliveryServiceHandler
	err *scripted
}

func (f failingDeliveries) ExportDeliveries(context.Context, *connect.Request[hookdv1.ExportDeliveriesRequest], *connect.ServerStream[hookdv1.ExportDeliveriesResponse]) error {
	return f.err.get()
}

// TestInterceptor puts the boundary in front of a unary and a streaming handler that fail with a driver error, a
// store error and a field error, and calls them over Connect and gRPC: the client sees the mapped error, never
// the driver's text. (The subtests run in turn: they change current.)
func TestInterceptor(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	current := &scripted{}
	boundary := connect.WithInterceptors(apierr.NewInterceptor(slog.New(slog.NewTextHandler(logs, nil))))
	mux := http.NewServeMux()
	mux.Handle(hookdv1connect.NewProjectServiceHandler(failingProjects{err: current}, boundary))
	mux.Handle(hookdv1connect.NewDeliveryServiceHandler(failingDeliveries{err: current}, boundary))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)

	for _, protocol := range []string{"connect", "grpc"} {
		var opts []connect.ClientOption
		if protocol == "grpc" {
			opts = append(opts, connect.WithGRPC())
		}
		projects := hookdv1connect.NewProjectServiceClient(srv.Client(), srv.URL, opts...)
		deliveries := hookdv1connect.NewDeliveryServiceClient(srv.Client(), srv.URL, opts...)
		call := func() (unary, stream error) {
			_, unary = projects.GetProject(context.Background(), connect.NewRequest(&hookdv1.GetProjectRequest{Id: "prj_x"}))
			s, err := deliveries.ExportDeliveries(context.Background(), connect.NewRequest(&hookdv1.ExportDeliveriesRequest{}))
			require.NoError(t, err)
			for s.Receive() {
			}
			return unary, s.Err()
		}
		t.Run(protocol, func(t *testing.T) {
			current.set(fmt.Errorf("get project: %w", errors.New(sqlText)))
			for _, err := range pair(call()) {
				assert.Equal(t, connect.CodeInternal, connect.CodeOf(err))
				assert.NotContains(t, err.Error(), "SELECT")
				var cerr *connect.Error
				require.ErrorAs(t, err, &cerr)
				assert.Equal(t, apierr.InternalMessage, cerr.Message())
			}
			assert.Contains(t, logs.String(), "SELECT", "the boundary logs what it hides")
			assert.Contains(t, logs.String(), "hookd.v1.ProjectService/GetProject", "with the procedure")

			current.set(apierr.About("project", "prj_x", fmt.Errorf("get project: %w", store.ErrNotFound)))
			for _, err := range pair(call()) {
				assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
				assert.Contains(t, err.Error(), `project "prj_x" not found`)
			}

			current.set(apierr.Invalid("id", "is required"))
			for _, err := range pair(call()) {
				assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
				vs := apierr.FieldViolations(err)
				require.Len(t, vs, 1, "the BadRequest detail reaches the client")
				assert.Equal(t, "id", vs[0].GetField())
			}
		})
	}
}

func pair(a, b error) []error { return []error{a, b} }

// lockedBuffer is a bytes.Buffer written by handlers and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
