package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/hookd/hookd/internal/clock"
)

// Defaults of StreamLimits.
const (
	// DefaultRecheckInterval is how often a long call (a server stream, an export download) reads its caller's key
	// again: a revoked key's streams end within about this interval (plus KeyCacheTTL and, for a quiet
	// WatchDeliveries stream, one heartbeat).
	DefaultRecheckInterval = 15 * time.Second
	// DefaultMaxStreamLifetime is how long one stream or download may run (`hookd serve --max-stream-lifetime`);
	// a watcher reconnects, an export that needs longer is split (e.g. by create time).
	DefaultMaxStreamLifetime = time.Hour
)

// StreamLimits bound the calls that outlive their authentication: server streams and export downloads.
type StreamLimits struct {
	// RecheckInterval is how often the caller's key is read again (0: DefaultRecheckInterval).
	RecheckInterval time.Duration
	// MaxLifetime ends a call that has run this long, with unavailable (0: DefaultMaxStreamLifetime; negative: no
	// cap).
	MaxLifetime time.Duration
}

func (l StreamLimits) withDefaults() StreamLimits {
	if l.RecheckInterval <= 0 {
		l.RecheckInterval = DefaultRecheckInterval
	}
	if l.MaxLifetime == 0 {
		l.MaxLifetime = DefaultMaxStreamLifetime
	}
	return l
}

// ErrStreamLifetime ends a call that ran for its StreamLimits.MaxLifetime.
var ErrStreamLifetime = errors.New("the call reached its maximum lifetime")

// Guard re-validates the caller of a call that outlives its authentication (a server stream, a download): Check
// reads the caller's key again once RecheckInterval has passed since the last read, and fails once the call has
// run for MaxLifetime. The auth interceptor guards every streaming handler (each Send is checked); other long
// calls (the export download) make a Guard with NewGuard and call Check themselves. Safe for concurrent use.
type Guard struct {
	check  func(context.Context) error
	clk    clock.Clock
	limits StreamLimits

	mu      sync.Mutex
	start   time.Time
	checked time.Time
	err     error // the first failure; every later Check returns it
}

// NewGuard returns a guard for a call that starts now on clk (nil: the wall clock); check re-validates the caller
// and returns a Connect error (unauthenticated for a revoked or unknown key).
func NewGuard(clk clock.Clock, limits StreamLimits, check func(context.Context) error) *Guard {
	if clk == nil {
		clk = clock.Real{}
	}
	now := clk.Now()
	return &Guard{check: check, clk: clk, limits: limits.withDefaults(), start: now, checked: now}
}

// Check returns nil while the call may go on. Once the key is revoked or unknown it returns unauthenticated;
// once the call has run for MaxLifetime it returns unavailable (wrapping ErrStreamLifetime): the client
// reconnects. After a failure it keeps returning the same error. An error of the key store itself (the database
// is unreachable) lets the call go on and is tried again at the next Check.
func (g *Guard) Check(ctx context.Context) error { return g.check1(ctx, false) }

// CheckNow is Check reading the caller again whatever the RecheckInterval (a portal stream's watchdog).
func (g *Guard) CheckNow(ctx context.Context) error { return g.check1(ctx, true) }

func (g *Guard) check1(ctx context.Context, force bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return g.err
	}
	now := g.clk.Now()
	if g.limits.MaxLifetime > 0 && now.Sub(g.start) >= g.limits.MaxLifetime {
		g.err = connect.NewError(connect.CodeUnavailable, fmt.Errorf("%w (%s): reconnect to continue", ErrStreamLifetime, g.limits.MaxLifetime))
		return g.err
	}
	if g.check == nil || (!force && now.Sub(g.checked) < g.limits.RecheckInterval) {
		return nil
	}
	err := g.check(ctx)
	var ce *connect.Error
	switch {
	case err == nil:
		g.checked = now
	case errors.As(err, &ce) && (ce.Code() == connect.CodeUnauthenticated || ce.Code() == connect.CodePermissionDenied):
		g.err = err
	default:
		slog.WarnContext(ctx, "recheck api key of a stream", "error", err) // keep going; try again next time
	}
	return g.err
}

// Err returns the error that ended the call, nil while Check passes.
func (g *Guard) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// guardedConn checks its guard before every message a streaming handler sends.
type guardedConn struct {
	connect.StreamingHandlerConn
	ctx    context.Context
	guard  *Guard
	cancel context.CancelFunc
}

// Send implements connect.StreamingHandlerConn: the message goes out only while the guard passes; otherwise the
// handler's context is cancelled and the guard's error is returned (and ends the stream, whatever the handler
// returns).
func (c *guardedConn) Send(msg any) error {
	if err := c.guard.Check(c.ctx); err != nil {
		c.cancel()
		return err
	}
	return c.StreamingHandlerConn.Send(msg)
}
