// Package groupcommit shares one write among concurrent callers (group commit): each caller hands an item to Do,
// writer goroutines collect the items that arrive together into a batch and write the batch with one call (e.g.
// one database transaction with multi-row inserts), and each caller gets its own item's result.
package groupcommit

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookd/hookd/internal/testsignal"
)

// WriteFunc writes a batch and returns one result per item, in order. A failed write must have written nothing
// (e.g. its transaction rolled back): the batcher then writes the items again one by one, so that each error
// reaches its own caller.
type WriteFunc[In, Out any] func(ctx context.Context, in []In) ([]Out, error)

// Config tunes a Batcher; zero (or negative) fields take the documented defaults.
type Config struct {
	// MaxItems is the most items written in one batch (default 100).
	MaxItems int
	// MaxWait is how long a batch waits for more items after its first one arrived (default 1 ms).
	MaxWait time.Duration
	// Idle is how long a writer waits for an item before it exits; writers restart on demand (default 1 s).
	Idle time.Duration
	// Timeout bounds each call of the WriteFunc (default 30 s).
	Timeout time.Duration
	// Writers is how many batches may be written at once: one collects while another writes (default 2).
	Writers int
	// Queue is the capacity of the queue of items not yet taken by a writer (default 1024).
	Queue int
	// Log receives failed batches (default slog.Default()).
	Log *slog.Logger
	// Name names the batcher in logs and errors (default "groupcommit").
	Name string
	// WriteAlone lets a caller that finds no batch being collected or written write its item itself, at once:
	// a lone caller (steady, modest traffic) then costs no hand-off to a writer goroutine and no MaxWait, while
	// callers arriving during a write are batched as before. Such a write is not given up when the caller's
	// context ends (it is bounded by Timeout, as every write).
	WriteAlone bool
}

func (c Config) withDefaults() Config {
	c.MaxItems = cmp.Or(max(c.MaxItems, 0), 100)
	c.MaxWait = cmp.Or(max(c.MaxWait, 0), time.Millisecond)
	c.Idle = cmp.Or(max(c.Idle, 0), time.Second)
	c.Timeout = cmp.Or(max(c.Timeout, 0), 30*time.Second)
	c.Writers = cmp.Or(max(c.Writers, 0), 2)
	c.Queue = cmp.Or(max(c.Queue, 0), 1024)
	c.Log = cmp.Or(c.Log, slog.Default())
	c.Name = cmp.Or(c.Name, "groupcommit")
	return c
}

// Batcher groups the items of concurrent Do calls into batches written by one WriteFunc call each. Its writer
// goroutines start on the first item and exit when idle, so a Batcher needs no Close.
type Batcher[In, Out any] struct {
	cfg   Config
	write WriteFunc[In, Out]

	queue   chan *pending[In, Out]
	collect sync.Mutex // held by the writer collecting a batch, so batches fill one at a time

	mu      sync.Mutex
	writers int
	busy    int // batches being collected (holding an item) or written, and lone writes
	// exited is waited on by tests until the writer goroutines have exited (none is writing or will write).
	exited sync.WaitGroup

	signals testSignals[In]
}

// testSignals report a Batcher's steps to its tests (internal/testsignal); they record nothing unless a test
// initialised them.
type testSignals[In any] struct {
	// queued receives each item once it is in the queue.
	queued testsignal.Signal[In]
	// written receives the size of each batch once its callers were answered.
	written testsignal.Signal[int]
}

// pending is an item waiting for its batch; done receives exactly one outcome.
type pending[In, Out any] struct {
	in   In
	done chan outcome[Out]
}

type outcome[Out any] struct {
	out Out
	err error
}

// New returns a Batcher that writes batches with write.
func New[In, Out any](cfg Config, write WriteFunc[In, Out]) *Batcher[In, Out] {
	cfg = cfg.withDefaults()
	return &Batcher[In, Out]{cfg: cfg, write: write, queue: make(chan *pending[In, Out], cfg.Queue)}
}

// Do writes in with the next batch and returns its result. It gives up when ctx ends, but an item already queued
// is still written. The write itself runs under a context of its own, bounded by Config.Timeout.
func (b *Batcher[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	var zero Out
	if err := ctx.Err(); err != nil {
		return zero, fmt.Errorf("%s: queue: %w", b.cfg.Name, err)
	}
	if b.cfg.WriteAlone && b.alone() {
		return b.writeAlone(in)
	}
	p := &pending[In, Out]{in: in, done: make(chan outcome[Out], 1)}
	select {
	case b.queue <- p:
	case <-ctx.Done():
		return zero, fmt.Errorf("%s: queue: %w", b.cfg.Name, ctx.Err())
	}
	b.signals.queued.Signal(in)
	b.ensureWriters()
	select {
	case o := <-p.done:
		return o.out, o.err
	case <-ctx.Done():
		return zero, fmt.Errorf("%s: wait for batch: %w", b.cfg.Name, ctx.Err())
	}
}

// alone reports whether a caller may write its item itself (no item queued, no batch collected or written), and
// then counts its write as busy.
func (b *Batcher[In, Out]) alone() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) > 0 || b.busy > 0 {
		return false
	}
	b.busy++
	return true
}

// setBusy adds d to the count of batches and lone writes under way.
func (b *Batcher[In, Out]) setBusy(d int) {
	b.mu.Lock()
	b.busy += d
	b.mu.Unlock()
}

// writeAlone writes one caller's item in the caller's goroutine (Config.WriteAlone).
func (b *Batcher[In, Out]) writeAlone(in In) (Out, error) {
	defer b.setBusy(-1)
	var zero Out
	outs, err := b.call([]In{in})
	switch {
	case err != nil:
		return zero, err
	case len(outs) != 1:
		err := fmt.Errorf("%s: write returned %d results for 1 item", b.cfg.Name, len(outs))
		b.cfg.Log.Error(b.cfg.Name+": bad write result", "error", err)
		return zero, err
	}
	b.signals.written.Signal(1)
	return outs[0], nil
}

// ensureWriters starts writers up to Config.Writers. Called after each enqueue: a writer exits only when it finds
// the queue empty under mu, so an item queued before that check is seen and one queued after it starts a writer.
func (b *Batcher[In, Out]) ensureWriters() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.writers < b.cfg.Writers {
		b.writers++
		b.exited.Go(b.run)
	}
}

// retire ends a writer unless items arrived meanwhile.
func (b *Batcher[In, Out]) retire() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) > 0 {
		return false
	}
	b.writers--
	return true
}

// run is a writer: it collects a batch, writes it, and repeats until idle.
func (b *Batcher[In, Out]) run() {
	for {
		b.collect.Lock()
		batch := b.next()
		b.collect.Unlock()
		if len(batch) == 0 {
			if b.retire() {
				return
			}
			continue
		}
		b.writeBatch(batch)
		b.setBusy(-1)
		b.signals.written.Signal(len(batch))
	}
}

// next waits up to Idle for a first item, then up to MaxWait for more (at most MaxItems in all).
func (b *Batcher[In, Out]) next() []*pending[In, Out] {
	idle := time.NewTimer(b.cfg.Idle)
	defer idle.Stop()
	var first *pending[In, Out]
	select {
	case first = <-b.queue:
		b.setBusy(1) // (until its batch is written)
	case <-idle.C:
		return nil
	}
	batch := append(make([]*pending[In, Out], 0, b.cfg.MaxItems), first)
	wait := time.NewTimer(b.cfg.MaxWait)
	defer wait.Stop()
	for len(batch) < b.cfg.MaxItems {
		select {
		case p := <-b.queue:
			batch = append(batch, p)
		case <-wait.C:
			return batch
		}
	}
	return batch
}

// writeBatch writes a batch with one call; when that fails it writes the items one by one, so that one bad item
// fails only its own caller.
func (b *Batcher[In, Out]) writeBatch(batch []*pending[In, Out]) {
	ins := make([]In, len(batch))
	for i, p := range batch {
		ins[i] = p.in
	}
	outs, err := b.call(ins)
	switch {
	case err == nil && len(outs) == len(ins):
		for i, p := range batch {
			p.done <- outcome[Out]{out: outs[i]}
		}
		return
	case err == nil: // written, but the results cannot be matched to the items: writing again would repeat them
		b.fail(batch, len(outs))
		return
	case len(batch) == 1:
		batch[0].done <- outcome[Out]{err: err}
		return
	}
	b.cfg.Log.Warn(b.cfg.Name+": batch failed, writing items one by one", "items", len(batch), "error", err)
	for _, p := range batch {
		outs, err := b.call([]In{p.in})
		switch {
		case err != nil:
			p.done <- outcome[Out]{err: err}
		case len(outs) != 1:
			b.fail([]*pending[In, Out]{p}, len(outs))
		default:
			p.done <- outcome[Out]{out: outs[0]}
		}
	}
}

// fail answers a batch whose WriteFunc returned n results (a bug of the WriteFunc) with an error.
func (b *Batcher[In, Out]) fail(batch []*pending[In, Out], n int) {
	err := fmt.Errorf("%s: write returned %d results for %d items", b.cfg.Name, n, len(batch))
	b.cfg.Log.Error(b.cfg.Name+": bad write result", "error", err)
	for _, p := range batch {
		p.done <- outcome[Out]{err: err}
	}
}

// call is one WriteFunc call, bounded by Timeout.
func (b *Batcher[In, Out]) call(ins []In) ([]Out, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Timeout)
	defer cancel()
	return b.write(ctx, ins)
}
