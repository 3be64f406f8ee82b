package api

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/pagination"
	"github.com/hookd/hookd/internal/quota"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// TestListPagesByBytes: a List of large rows (integrations stored before the headers cap, 400 KiB each) returns
// a short page with a next_page_token at the byte budget, whatever the page_size, and paging through returns
// every row once.
func TestListPagesByBytes(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const n = 12
		value := strings.Repeat("v", 8<<10)
		want := map[string]bool{}
		for i := range n {
			in := &store.Integration{ID: id.New(id.Integration, e.clock.Now()), ProjectID: auth.DefaultProjectID,
				Name: fmt.Sprintf("big-%d", i), BaseURL: "https://api.example.com", CreateTime: e.clock.Now(), UpdateTime: e.clock.Now()}
			for h := range 50 {
				in.Headers = append(in.Headers, store.Header{Name: fmt.Sprintf("X-H%d", h), Value: value})
			}
			require.NoError(t, e.st.CreateIntegration(ctx, in))
			want[in.ID] = true
		}
		got := map[string]bool{}
		token, pages := "", 0
		for {
			res, err := e.viewer.integrations.ListIntegrations(ctx, creq(&hookdv1.ListIntegrationsRequest{PageSize: 1000, PageToken: token}))
			require.NoError(t, err)
			pages++
			size := 0
			for _, in := range res.Msg.GetIntegrations() {
				assert.False(t, got[in.GetId()], "listed twice: %s", in.GetId())
				got[in.GetId()] = true
				for _, h := range in.GetHeaders() {
					size += len(h.GetName()) + len(h.GetValue())
				}
			}
			assert.Less(t, size, pagination.MaxPageBytes+500<<10, "a page holds the budget and one row at most")
			if token = res.Msg.GetNextPageToken(); token == "" {
				break
			}
			require.NotEmpty(t, res.Msg.GetIntegrations(), "a token follows a page with rows")
		}
		assert.Equal(t, want, got)
		assert.Greater(t, pages, 1, "%d rows of 400 KiB do not fit in one page", n)
	})
}

// TestListStopsReadingAtBudget: the store itself stops at Page.MaxBytes (on both backends, for a plain list and
// for deliveries), returning the row that reached the budget last.
func TestListStopsReadingAtBudget(t *testing.T) {
	t.Parallel()
	storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st)
		ctx := context.Background()
		for i := range 5 {
			in := &store.Integration{ID: id.New(id.Integration, e.clock.Now()), ProjectID: auth.DefaultProjectID,
				Name: fmt.Sprintf("i%d", i), BaseURL: "https://api.example.com", CreateTime: e.clock.Now(), UpdateTime: e.clock.Now(),
				Headers: []store.Header{{Name: "X-Big", Value: strings.Repeat("v", 100_000)}}}
			require.NoError(t, st.CreateIntegration(ctx, in))
		}
		ins, err := st.ListIntegrations(ctx, auth.DefaultProjectID, store.Page{Size: 100, MaxBytes: 250_000})
		require.NoError(t, err)
		assert.Len(t, ins, 3, "the third row reaches 250,000 bytes")
		ins, err = st.ListIntegrations(ctx, auth.DefaultProjectID, store.Page{Size: 100})
		require.NoError(t, err)
		assert.Len(t, ins, 5, "no budget: every row")
	})
}

// TestIntegrationQuotaAndHeaderBytes: --max-integrations caps a project's integrations (resource_exhausted), and
// an integration's headers hold at most maxHeadersBytes together.
func TestIntegrationQuotaAndHeaderBytes(t *testing.T) {
	t.Parallel()
	storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, func(d *Deps) { d.Quotas = quota.Limits{Integrations: 2} })
		ctx := context.Background()
		create := func(c clients, name string, headers ...*hookdv1.Header) error {
			_, err := c.integrations.CreateIntegration(ctx, creq(&hookdv1.CreateIntegrationRequest{Name: name, BaseUrl: "https://api.example.com",
				Headers: headers}))
			return err
		}
		var big []*hookdv1.Header
		for h := range 5 {
			big = append(big, &hookdv1.Header{Name: fmt.Sprintf("X-H%d", h), Value: strings.Repeat("v", 8<<10)})
		}
		err := create(e.member, "too-big", big...)
		requireCode(t, err, connect.CodeInvalidArgument, "headers")
		requireField(t, err, "headers")

		require.NoError(t, create(e.member, "a", big[:3]...))
		require.NoError(t, create(e.member, "b"))
		requireCode(t, create(e.member, "c"), connect.CodeResourceExhausted, "integrations")
		require.NoError(t, create(e.other, "theirs"), "another project has its own quota")
	})
}
