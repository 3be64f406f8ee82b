// Package api holds hookd's Connect handlers: one small handler per service. Handlers validate input, call the
// store and convert records to protos; they never build SQL and never see other projects' records.
package api

import (
	"cmp"
	"context"
	"github.com/hookd/hookd/internal/listen"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/quota"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
)

// Deps are what every handler needs.
type Deps struct {
	// Store is the database.
	Store store.Store
	// Feed streams delivery changes (WatchDeliveries; without it the RPC answers unimplemented).
	Feed store.DeliveryFeed
	// Clock gives the current time (injected so tests control it).
	Clock clock.Clock
	// Log receives the handlers' own records (e.g. key revocations); internal errors are logged by the error
	// boundary (apierr.NewInterceptor) in front of the handlers.
	Log *slog.Logger
	// Dev allows http:// and loopback/private webhook targets.
	Dev bool
	// PublicURL is the base of links handed out (action-status links, trigger URLs), without a trailing slash.
	PublicURL string
	// Quotas caps the objects of each project (zero fields: no cap).
	Quotas quota.Limits
	// Auth is the interceptor's authenticator (optional): a revoked key is forgotten there at once.
	Auth *auth.Authenticator
	// WatchHeartbeat is the interval of WatchDeliveries heartbeats (0: DefaultWatchHeartbeat).
	WatchHeartbeat time.Duration
	// LinkKeys sign export links (CreateExportLink) and check them (the download): the instance keyring. Without
	// it there are no links.
	LinkKeys MACKeys
	// Retention is the instance's retention (`--retention`): a project's own may be shorter, never longer (0: not
	// checked).
	Retention time.Duration
	// MaxPayloadBytes limits one payload's JSON size: publish, test sends, body previews (0:
	// store.DefaultMaxPayloadBytes).
	MaxPayloadBytes int
	// Listen holds the `hookd listen` clients connected to this process (the sender's; without it
	// ListenDeliveries answers unimplemented).
	Listen *listen.Hub
	// MaxWatchesPerKey caps the WatchDeliveries streams one API key holds open in this process (0:
	// DefaultMaxWatchesPerKey).
	MaxWatchesPerKey int
}

func (d Deps) now() time.Time { return d.Clock.Now().UTC() }

// maxPayload is the payload limit in force.
func (d Deps) maxPayload() int { return cmp.Or(d.MaxPayloadBytes, store.DefaultMaxPayloadBytes) }

func (d Deps) log() *slog.Logger {
	if d.Log == nil {
		return slog.Default()
	}
	return d.Log
}

// headersToProto converts headers, masking private values unless reveal is true.
func headersToProto(hs []store.Header, reveal bool) []*hookdv1.Header {
	out := make([]*hookdv1.Header, 0, len(hs))
	for _, h := range hs {
		v := h.Value
		if h.Private && !reveal {
			v = secret.Masked
		}
		out = append(out, &hookdv1.Header{Name: h.Name, Value: v, Private: h.Private})
	}
	return out
}

// timestamp converts a time; the zero time becomes nil.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// timestampPtr converts an optional time.
func timestampPtr(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamp(*t)
}

// duration converts a duration; zero becomes nil.
func duration(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// fromTimestamp converts an optional timestamp; nil becomes the zero time.
func fromTimestamp(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime().UTC()
}

// Tester sends test requests (WebhookService.TestWebhook); the sender implements it.
type Tester interface {
	// SendTest sends one signed request for webhook w now with the given event type and JSON payload and
	// returns the request and response as an attempt (Number 0). Nothing is stored and nothing is retried.
	SendTest(ctx context.Context, w *store.Webhook, eventType string, payload []byte) (*store.Attempt, error)
}
