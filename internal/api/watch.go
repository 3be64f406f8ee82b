package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/store"
)

const (
	// DefaultWatchHeartbeat is how often WatchDeliveries sends a heartbeat (a response without a delivery).
	DefaultWatchHeartbeat = 15 * time.Second
	// WatchBuffer is how many changes a WatchDeliveries stream may have unsent before it is dropped.
	WatchBuffer = 4096
	// watchBatch is the most changes sent per read of webhook and integration names.
	watchBatch = 256
	// watchNamesTTL is how long a stream reuses the webhook and integration names it read (a rename shows
	// within it).
	watchNamesTTL = 5 * time.Second
	// DefaultMaxWatchesPerKey is how many WatchDeliveries streams one API key may hold open in one process (under
	// the store's per-project cap, storesql.MaxWatchersPerProject): one key cannot take every slot of its project.
	DefaultMaxWatchesPerKey = 10
)

// keySlots counts the open streams of each API key.
type keySlots struct {
	mu sync.Mutex
	n  map[string]int
}

// take takes one of most slots of key; release gives it back. ok is false when key holds most already.
func (k *keySlots) take(key string, most int) (release func(), ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.n[key] >= most {
		return nil, false
	}
	if k.n == nil {
		k.n = map[string]int{}
	}
	k.n[key]++
	return sync.OnceFunc(func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.n[key]--; k.n[key] <= 0 {
			delete(k.n, key)
		}
	}), true
}

// WatchDeliveries implements hookdv1connect.DeliveryServiceHandler: the changes of the caller's project's
// deliveries that match the filter, from every process, with heartbeats. A client that falls WatchBuffer changes
// behind is disconnected with resource_exhausted (delivery never waits for a watcher); it may reconnect and list
// what it missed. One key holds at most Deps.MaxWatchesPerKey streams (resource_exhausted beyond). The auth
// interceptor ends the stream when the key is revoked or the stream reached its lifetime (auth.Guard).
func (s *deliveryService) WatchDeliveries(ctx context.Context, req *connect.Request[hookdv1.WatchDeliveriesRequest], stream *connect.ServerStream[hookdv1.WatchDeliveriesResponse]) error {
	p, err := auth.Caller(ctx)
	if err != nil {
		return err
	}
	f, err := deliveryFilter(req.Msg.GetFilter(), false)
	if err != nil {
		return err
	}
	if f.TenantID, err = tenantFilter(p, "filter.tenant_id", f.TenantID); err != nil {
		return err
	}
	most := cmp.Or(s.d.MaxWatchesPerKey, DefaultMaxWatchesPerKey)
	release, ok := s.watches.take(p.KeyID, most)
	if !ok {
		return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf(
			"watch deliveries: this API key already holds %d open WatchDeliveries streams, the most one key may hold; close one first", most))
	}
	defer release()
	if s.d.Feed == nil {
		return connect.NewError(connect.CodeUnimplemented, errors.New("watch deliveries: this server has no delivery feed"))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changes, watchErr, err := s.d.Feed.WatchDeliveries(ctx, p.ProjectID, WatchBuffer)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("watch deliveries: %w", err))
		}
		return apierr.About("deliveries", "", err)
	}
	heartbeat := func() error {
		return stream.Send(&hookdv1.WatchDeliveriesResponse{Time: timestamppb.New(s.d.now())})
	}
	// A first heartbeat at once: the stream is open and the watch registered.
	if err := heartbeat(); err != nil {
		return nil // the client went away
	}
	every := s.d.WatchHeartbeat
	if every <= 0 {
		every = DefaultWatchHeartbeat
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	batch := make([]store.DeliveryChange, 0, watchBatch)
	names := &streamNames{}
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := heartbeat(); err != nil {
				return nil
			}
			continue
		case c, ok := <-changes:
			if !ok {
				return s.watchEnded(watchErr())
			}
			batch = append(batch, c)
		}
	more: // what else is ready, up to watchBatch, shares one read of names
		for len(batch) < watchBatch {
			select {
			case c, ok := <-changes:
				if !ok {
					break more
				}
				batch = append(batch, c)
			default:
				break more
			}
		}
		if err := s.sendChanges(ctx, stream, p.ProjectID, f, batch, names); err != nil {
			return err
		}
	}
}

// sendChanges sends the changes that match f, with their webhook and integration names.
func (s *deliveryService) sendChanges(ctx context.Context, stream *connect.ServerStream[hookdv1.WatchDeliveriesResponse], projectID string,
	f store.DeliveryFilter, batch []store.DeliveryChange, cached *streamNames) error {
	var missing []store.Delivery
	now := s.d.now()
	if now.Sub(cached.read) > watchNamesTTL {
		*cached = streamNames{read: now, names: targetNames{webhooks: map[string]string{}, integrations: map[string]string{}}}
	}
	for i := range batch {
		d := &batch[i].Delivery
		if !f.Matches(d) {
			continue
		}
		_, wok := cached.names.webhooks[d.WebhookID]
		_, iok := cached.names.integrations[d.IntegrationID]
		if !wok || (d.IntegrationID != "" && !iok) {
			missing = append(missing, *d)
		}
	}
	if len(missing) > 0 {
		got, err := loadTargetNames(ctx, s.d.Store, projectID, missing...)
		if err != nil {
			return apierr.About("deliveries", "", err)
		}
		for _, d := range missing { // remembered also when unknown (deleted): "" until the names are read again
			cached.names.webhooks[d.WebhookID] = got.webhooks[d.WebhookID]
			if d.IntegrationID != "" {
				cached.names.integrations[d.IntegrationID] = got.integrations[d.IntegrationID]
			}
		}
	}
	names := cached.names
	for i := range batch {
		c := &batch[i]
		if !f.Matches(&c.Delivery) {
			continue
		}
		if err := stream.Send(&hookdv1.WatchDeliveriesResponse{Delivery: names.fill(deliveryToProto(&c.Delivery)),
			Change: changeToProto(c.Kind), Time: timestamp(c.Time)}); err != nil {
			return nil // the client went away
		}
	}
	return nil
}

// streamNames are the webhook and integration names a stream read, and when.
type streamNames struct {
	read  time.Time
	names targetNames
}

// watchEnded is the error that ends a stream whose watch the store closed.
func (s *deliveryService) watchEnded(err error) error {
	switch {
	case errors.Is(err, store.ErrFellBehind):
		return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf(
			"watch deliveries: the client fell more than %d changes behind; reconnect and list deliveries to catch up", WatchBuffer))
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil
	default:
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("watch deliveries: %w", err))
	}
}

func changeToProto(k store.ChangeKind) hookdv1.DeliveryChange {
	switch k {
	case store.ChangeCreated:
		return hookdv1.DeliveryChange_DELIVERY_CHANGE_CREATED
	case store.ChangeAttempted:
		return hookdv1.DeliveryChange_DELIVERY_CHANGE_ATTEMPTED
	default:
		return hookdv1.DeliveryChange_DELIVERY_CHANGE_STATUS_CHANGED
	}
}
