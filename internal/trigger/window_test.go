package trigger_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/store/storetest"
	"github.com/hookd/hookd/internal/trigger"
)

// TestRateLimitRollingSecond: a trigger at 50/s served by two processes (two handlers on two stores of one
// database) and called by a client every 10 ms of injected time for three seconds, in turn through either
// process, accepts at most 50 requests in any rolling second counted at the client (the product document 003:
// "already received 50 requests in the last second → 429"), and 50 per second while the client keeps pushing.
func TestRateLimitRollingSecond(t *testing.T) {
	t.Parallel()
	storetest.ForEachClusterParallel(t, func(t *testing.T, a, other *storetest.DB) {
		b := setup(t, a)
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", RateLimitPerSecond: 50})
		second := httptest.NewServer(trigger.NewHandler(trigger.Config{Store: other, Rates: other, Clock: b.clock,
			PublicURL: b.srv.URL + "/"}))
		t.Cleanup(second.Close)
		u, err := url.Parse(trg.Url)
		require.NoError(t, err)
		urls := []string{trg.Url, second.URL + u.Path}

		var accepted []time.Duration
		for at, i := time.Duration(0), 0; at < 3*time.Second; at, i = at+10*time.Millisecond, i+1 {
			b.clock.Set(t0.Add(at))
			switch r := b.post(t, urls[i%2], "application/json", "{}"); r.status {
			case http.StatusOK:
				accepted = append(accepted, at)
			case http.StatusTooManyRequests:
			default:
				t.Fatalf("status %d: %s", r.status, r.body)
			}
		}
		most := 0
		for i := range accepted {
			j := sort.Search(len(accepted), func(j int) bool { return accepted[j] >= accepted[i]+time.Second })
			most = max(most, j-i)
		}
		assert.LessOrEqual(t, most, 50, "accepted in one rolling second, across both processes")
		assert.Equal(t, 150, len(accepted), "50 per second while the client keeps sending twice that")
		t.Logf("%d accepted in 3 s, at most %d in any rolling second", len(accepted), most)
	})
}
