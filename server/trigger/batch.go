package trigger

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookd/hookd/server/clock"
	"github.com/hookd/hookd/server/store"
)

// Group commit of executions: concurrent requests share one store transaction.
const (
	// batchMaxRecords is the most records written in one transaction.
	batchMaxRecords = 100
	// batchMaxWait is how long a batch waits for more records after its first one arrived.
	batchMaxWait = time.Millisecond
	// batchWriters is how many batches may be written at once (one collects while another writes).
	batchWriters = 2
	// batchIdle is how long a writer waits for a record before it exits (it restarts on demand).
	batchIdle = time.Second
	// batchQueue is the capacity of the queue of records not yet taken by a writer.
	batchQueue = 1024
)

// batcher writes the executions of concurrent requests with one RecordExecutions call per batch (group commit),
// cutting the per-request transaction, commit and index work. Writer goroutines start on the first record and
// exit when idle, so a batcher needs no Close.
type batcher struct {
	st  store.Store
	clk clock.Clock
	log *slog.Logger

	maxRecords int
	maxWait    time.Duration
	idle       time.Duration
	maxWriters int

	queue   chan *pendingRecord
	collect sync.Mutex // held by the writer collecting a batch, so batches fill one at a time

	mu      sync.Mutex
	writers int
}

// pendingRecord is a record waiting for its batch; done receives exactly one outcome.
type pendingRecord struct {
	rec  store.ExecutionRecord
	done chan recordOutcome
}

type recordOutcome struct {
	res *store.PublishResult
	err error
}

func newBatcher(st store.Store, clk clock.Clock, log *slog.Logger) *batcher {
	return &batcher{
		st: st, clk: clk, log: log,
		maxRecords: batchMaxRecords, maxWait: batchMaxWait, idle: batchIdle, maxWriters: batchWriters,
		queue: make(chan *pendingRecord, batchQueue),
	}
}

// record stores e (publishing its event when publish is not nil) in the next batch and returns its result, as
// store.RecordExecution does. It gives up when ctx ends, but a record already queued is still written.
func (b *batcher) record(ctx context.Context, e *store.Execution, publish *store.PublishInput) (*store.PublishResult, error) {
	p := &pendingRecord{rec: store.ExecutionRecord{Execution: e, Publish: publish}, done: make(chan recordOutcome, 1)}
	select {
	case b.queue <- p:
	case <-ctx.Done():
		return nil, fmt.Errorf("queue execution: %w", ctx.Err())
	}
	b.ensureWriters()
	select {
	case o := <-p.done:
		return o.res, o.err
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for execution batch: %w", ctx.Err())
	}
}

// ensureWriters starts writers up to maxWriters. Called after each enqueue: a writer exits only when it finds the
// queue empty under mu, so a record queued before that check is seen and one queued after it starts a writer.
func (b *batcher) ensureWriters() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.writers < b.maxWriters {
		b.writers++
		go b.run()
	}
}

// retire ends a writer unless records arrived meanwhile.
func (b *batcher) retire() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) > 0 {
		return false
	}
	b.writers--
	return true
}

// run is a writer: it collects a batch, writes it, and repeats until idle.
func (b *batcher) run() {
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
		b.write(batch)
	}
}

// next waits up to idle for a first record, then up to maxWait for more (at most maxRecords in all).
func (b *batcher) next() []*pendingRecord {
	idle := time.NewTimer(b.idle)
	defer idle.Stop()
	var first *pendingRecord
	select {
	case first = <-b.queue:
	case <-idle.C:
		return nil
	}
	batch := append(make([]*pendingRecord, 0, b.maxRecords), first)
	wait := time.NewTimer(b.maxWait)
	defer wait.Stop()
	for len(batch) < b.maxRecords {
		select {
		case p := <-b.queue:
			batch = append(batch, p)
		case <-wait.C:
			return batch
		}
	}
	return batch
}

// write stores a batch in one transaction; when that fails it stores the records one by one, so that one bad
// record (e.g. of a trigger deleted meanwhile) fails only its own request.
func (b *batcher) write(batch []*pendingRecord) {
	recs := make([]store.ExecutionRecord, len(batch))
	for i, p := range batch {
		recs[i] = p.rec
	}
	res, err := b.recordExecutions(recs)
	if err == nil {
		for i, p := range batch {
			p.done <- recordOutcome{res: res[i]}
		}
		return
	}
	if len(batch) > 1 {
		b.log.Warn("trigger: execution batch failed, writing records one by one", "records", len(batch), "error", err)
	}
	for _, p := range batch {
		if len(batch) > 1 {
			res, err = b.recordExecutions([]store.ExecutionRecord{p.rec})
		}
		if err != nil {
			p.done <- recordOutcome{err: err}
			continue
		}
		p.done <- recordOutcome{res: res[0]}
	}
}

// recordExecutions is one store call, bounded by recordTimeout.
func (b *batcher) recordExecutions(recs []store.ExecutionRecord) ([]*store.PublishResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	return b.st.RecordExecutions(ctx, recs, b.clk.Now().UTC())
}
