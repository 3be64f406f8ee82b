package storesql

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/internal/startstop"
	"github.com/hookd/hookd/internal/store"
)

// Delivery watches (WatchDeliveries). While someone watches a project — in this process (local watchers) or in
// another (a row in delivery_watchers) — transactions note the ids of the deliveries they create or change in
// it. After commit the notes go to the feed's loop, which every resolveEvery reads the noted deliveries of
// locally watched projects in one query and hands them to their watchers, and sends the notes of projects
// watched elsewhere in NOTIFYs on topicDeliveryChanges (ids only: each watching process reads the rows itself;
// the process's Notifier hears them). When nobody watches, a commit only loads one atomic flag.
//
// A watcher's channel is buffered; one that is full when a change comes is closed (ErrFellBehind): a slow reader
// never blocks a commit or the loop.

const (
	// watcherTTL is how long a watching process's registry row counts without being refreshed (a crashed
	// process's rows lapse); it is refreshed every watcherRefresh.
	watcherTTL     = 30 * time.Second
	watcherRefresh = 10 * time.Second
	// remotePoll is how often a process re-reads which projects other processes watch (also at once on a NOTIFY
	// on topicWatchers).
	remotePoll = time.Second
	// resolveEvery batches the noted changes of a burst into one read.
	resolveEvery = 20 * time.Millisecond
	// maxNotifyBytes keeps NOTIFY payloads under PostgreSQL's 8000-byte limit.
	maxNotifyBytes = 7800
	// MaxWatchersPerProject caps the watches of one project in one process (WatchDeliveries → ErrConflict beyond).
	MaxWatchersPerProject = 100
)

// ErrTooManyWatchers is returned by WatchDeliveries beyond MaxWatchersPerProject.
var ErrTooManyWatchers = fmt.Errorf("more than %d watchers of one project: %w", MaxWatchersPerProject, store.ErrConflict)

// noted is a change noted by a transaction.
type noted struct {
	projectID, deliveryID string
	kind                  store.ChangeKind
	time                  time.Time
	// elsewhere marks a change another process committed (and announced).
	elsewhere bool
}

// watcher is one WatchDeliveries subscription.
type watcher struct {
	projectID string
	ch        chan store.DeliveryChange
	err       error // why ch was closed; set before closing
}

// Feed routes delivery changes to watchers (store.DeliveryFeed): those this process commits, and on PostgreSQL
// those other processes announce (heard by the Notifier, which its owner starts). Every serving process runs it
// (Start), so that the changes it commits reach watchers elsewhere; WatchDeliveries starts it too. Start and Stop
// follow startstop; Stop ends every watch of this process and removes its watcher registry rows.
type Feed struct {
	startstop.BaseStartStop
	s *conn
	// active is set while any project is watched anywhere: only then do transactions note changes.
	active atomic.Bool
	// pendingN counts notes of transactions not finished yet.
	pendingN atomic.Int64

	mu         sync.Mutex
	local      map[string]map[*watcher]struct{} // by project
	remote     map[string]bool                  // projects watched by other processes
	pending    map[*sqlx.Tx][]noted
	ready      []noted         // committed notes (and other processes' changes) not handled yet
	registered map[string]bool // projects this process has a delivery_watchers row for

	kick    chan struct{}
	refresh chan struct{}
}

func newFeed(s *conn) *Feed {
	f := &Feed{s: s, local: map[string]map[*watcher]struct{}{}, remote: map[string]bool{}, pending: map[*sqlx.Tx][]noted{},
		registered: map[string]bool{}, kick: make(chan struct{}, 1), refresh: make(chan struct{}, 1)}
	s.notify.handle(topicDeliveryChanges, func(payload string, reconnected bool) {
		if reconnected { // watchers may have come or gone meanwhile
			f.pokeRefresh()
			return
		}
		f.received(payload)
	})
	s.notify.handle(topicWatchers, func(payload string, reconnected bool) {
		if reconnected || payload != s.origin {
			f.pokeRefresh()
		}
	})
	return f
}

// Start starts routing delivery changes (on PostgreSQL also between processes: it reads the watcher registry and
// keeps it fresh). It runs until ctx ends or Stop.
func (f *Feed) Start(ctx context.Context) error {
	ctx, stopped, err := f.StartInit(ctx)
	if err != nil {
		return fmt.Errorf("start delivery feed: %w", err)
	}
	var wg sync.WaitGroup
	if f.s.pg() {
		f.refreshRemote(ctx)
		wg.Go(func() { f.registryLoop(ctx) })
	}
	wg.Go(func() { f.loop(ctx) })
	go func() {
		defer stopped()
		wg.Wait()
		f.close()
	}()
	return nil
}

// close ends this process's watches and removes its registry rows (the loops have stopped).
func (f *Feed) close() {
	f.mu.Lock()
	for p, ws := range f.local {
		for w := range ws {
			f.drop(w, errors.New("delivery feed stopped"))
		}
		delete(f.local, p)
	}
	f.mu.Unlock()
	if f.s.pg() && !f.s.closed.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _ = f.s.db.ExecContext(ctx, `DELETE FROM delivery_watchers WHERE origin = $1`, f.s.origin)
	}
}

// WatchDeliveries implements store.DeliveryFeed; it starts the feed if it does not run yet.
func (f *Feed) WatchDeliveries(ctx context.Context, projectID string, buffer int) (<-chan store.DeliveryChange, func() error, error) {
	s := f.s
	if !f.Started() {
		// The feed outlives the watch that started it.
		if err := f.Start(context.WithoutCancel(ctx)); err != nil && !errors.Is(err, startstop.ErrAlreadyStarted) {
			return nil, nil, err
		}
	}
	stopped := f.Stopped()
	w := &watcher{projectID: projectID, ch: make(chan store.DeliveryChange, max(buffer, 1))}
	f.mu.Lock()
	ws := f.local[projectID]
	if len(ws) >= MaxWatchersPerProject {
		f.mu.Unlock()
		return nil, nil, ErrTooManyWatchers
	}
	if ws == nil {
		ws = map[*watcher]struct{}{}
		f.local[projectID] = ws
	}
	ws[w] = struct{}{}
	first := !f.registered[projectID]
	f.active.Store(true)
	f.mu.Unlock()
	if first && s.pg() {
		// Registered before returning, and announced, so that other processes note changes from about now on.
		if err := f.register(ctx, projectID); err != nil {
			f.remove(w, err)
			return nil, nil, err
		}
	}
	go func() {
		select {
		case <-ctx.Done():
			f.remove(w, ctx.Err())
		case <-stopped:
		}
	}()
	return w.ch, func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		return w.err
	}, nil
}

// remove ends a watcher (if it still runs) with err.
func (f *Feed) remove(w *watcher, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.local[w.projectID][w]; ok {
		f.drop(w, err)
	}
}

// drop closes w with err and forgets it (f.mu held).
func (f *Feed) drop(w *watcher, err error) {
	w.err = err
	close(w.ch)
	delete(f.local[w.projectID], w)
	if len(f.local[w.projectID]) == 0 {
		delete(f.local, w.projectID)
	}
	f.active.Store(len(f.local) > 0 || len(f.remote) > 0)
}

// register records (PostgreSQL) that this process watches projectID and tells the other processes.
func (f *Feed) register(ctx context.Context, projectID string) error {
	if _, err := f.s.db.ExecContext(ctx, `INSERT INTO delivery_watchers (origin, project_id, expire_time)
		VALUES ($1, $2, now() + $3::interval) ON CONFLICT (origin, project_id) DO UPDATE SET expire_time = excluded.expire_time`,
		f.s.origin, projectID, pgInterval(watcherTTL)); err != nil {
		return wrap("register delivery watcher", err)
	}
	f.mu.Lock()
	f.registered[projectID] = true
	f.mu.Unlock()
	if err := f.s.notify.notify(ctx, topicWatchers, f.s.origin); err != nil {
		f.s.log.Warn("announce delivery watcher", "error", err) // others find the row at their next poll
	}
	return nil
}

func pgInterval(d time.Duration) string {
	return strconv.FormatInt(d.Microseconds(), 10) + " microseconds"
}

// note records, in tx, changes of the project's deliveries for its watchers (a no-op while nobody watches).
func (s *conn) note(tx *sqlx.Tx, projectID string, kind store.ChangeKind, now time.Time, ids ...string) {
	f := s.feed
	if !f.active.Load() || len(ids) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.local[projectID]) == 0 && !f.remote[projectID] {
		return
	}
	for _, id := range ids {
		f.pending[tx] = append(f.pending[tx], noted{projectID: projectID, deliveryID: id, kind: kind, time: now})
	}
	f.pendingN.Add(int64(len(ids)))
}

// noteChanges notes the changes the books counted (an attempt, or a status change without one).
func (s *conn) noteChanges(tx *sqlx.Tx, now time.Time, changes []change) {
	if !s.feed.active.Load() {
		return
	}
	for _, c := range changes {
		kind := store.ChangeStatus
		if c.attempted {
			kind = store.ChangeAttempted
		}
		s.note(tx, c.projectID, kind, now, c.deliveryID)
	}
}

// finished hands a finished transaction's notes on (committed) or forgets them.
func (f *Feed) finished(tx *sqlx.Tx, committed bool) {
	if f.pendingN.Load() == 0 {
		return
	}
	f.mu.Lock()
	notes, ok := f.pending[tx]
	if ok {
		delete(f.pending, tx)
		f.pendingN.Add(-int64(len(notes)))
		if committed {
			f.ready = append(f.ready, notes...)
		}
	}
	f.mu.Unlock()
	if ok && committed {
		f.poke()
	}
}

func (f *Feed) poke() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// loop handles ready notes in bursts: it announces those of remotely watched projects and resolves those of
// locally watched ones.
func (f *Feed) loop(stop context.Context) {
	for {
		select {
		case <-stop.Done():
			return
		case <-f.kick:
		}
		select { // let the burst gather
		case <-stop.Done():
			return
		case <-time.After(resolveEvery):
		}
		f.mu.Lock()
		batch := f.ready
		f.ready = nil
		var toRemote, toLocal []noted
		for _, n := range batch {
			if n.elsewhere { // its own process announced it to the others
				if len(f.local[n.projectID]) > 0 {
					toLocal = append(toLocal, n)
				}
				continue
			}
			if f.remote[n.projectID] {
				toRemote = append(toRemote, n)
			}
			if len(f.local[n.projectID]) > 0 {
				toLocal = append(toLocal, n)
			}
		}
		f.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if len(toRemote) > 0 {
			f.announce(ctx, toRemote)
		}
		if len(toLocal) > 0 {
			f.resolve(ctx, toLocal)
		}
		cancel()
	}
}

// announce sends notes to the other processes: "origin project" then "kind id micros" entries, one NOTIFY per
// project and maxNotifyBytes.
func (f *Feed) announce(ctx context.Context, notes []noted) {
	byProject := map[string][]noted{}
	var order []string
	for _, n := range notes {
		if _, ok := byProject[n.projectID]; !ok {
			order = append(order, n.projectID)
		}
		byProject[n.projectID] = append(byProject[n.projectID], n)
	}
	for _, p := range order {
		head := f.s.origin + " " + p
		var b strings.Builder
		send := func() {
			if b.Len() == 0 {
				return
			}
			if err := f.s.notify.notify(ctx, topicDeliveryChanges, head+b.String()); err != nil {
				f.s.log.Warn("announce delivery changes", "error", err) // those watchers miss these changes
			}
			b.Reset()
		}
		for _, n := range byProject[p] {
			entry := " " + strconv.Itoa(int(n.kind)) + ":" + n.deliveryID + ":" + strconv.FormatInt(n.time.UnixMicro(), 10)
			if len(head)+b.Len()+len(entry) > maxNotifyBytes {
				send()
			}
			b.WriteString(entry)
		}
		send()
	}
}

// received queues the changes another process announced.
func (f *Feed) received(payload string) {
	fields := strings.Fields(payload)
	if len(fields) < 3 || fields[0] == f.s.origin {
		return
	}
	projectID := fields[1]
	f.mu.Lock()
	if len(f.local[projectID]) == 0 {
		f.mu.Unlock()
		return
	}
	for _, e := range fields[2:] {
		parts := strings.Split(e, ":")
		if len(parts) != 3 {
			continue
		}
		kind, err1 := strconv.Atoi(parts[0])
		us, err2 := strconv.ParseInt(parts[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		f.ready = append(f.ready, noted{projectID: projectID, deliveryID: parts[1], kind: store.ChangeKind(kind),
			time: time.UnixMicro(us).UTC(), elsewhere: true})
	}
	f.mu.Unlock()
	f.poke()
}

// resolve reads the noted deliveries and hands each change to the watchers of its project.
func (f *Feed) resolve(ctx context.Context, notes []noted) {
	ids := make([]string, 0, len(notes))
	seen := map[string]bool{}
	for _, n := range notes {
		if !seen[n.deliveryID] {
			seen[n.deliveryID] = true
			ids = append(ids, n.deliveryID)
		}
	}
	rows, err := f.s.deliveriesByID(ctx, ids)
	if err != nil {
		f.s.log.Warn("read watched deliveries", "error", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range notes {
		d, ok := rows[n.deliveryID]
		if !ok || d.ProjectID != n.projectID {
			continue // deleted since (retention)
		}
		c := store.DeliveryChange{Kind: n.kind, Delivery: d, Time: n.time}
		for w := range f.local[n.projectID] {
			select {
			case w.ch <- c:
			default:
				f.drop(w, store.ErrFellBehind)
			}
		}
	}
}

// rowIDs are the ids of delivery rows.
func rowIDs(rows []deliveryRow) []string {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids
}

// deliveriesByID reads deliveries (with their next attempt times) by id.
func (s *conn) deliveriesByID(ctx context.Context, ids []string) (map[string]store.Delivery, error) {
	out := make(map[string]store.Delivery, len(ids))
	for start := 0; start < len(ids); start += deliveryChunk {
		chunk := ids[start:min(start+deliveryChunk, len(ids))]
		q, args, err := s.inList(`SELECT `+loggedCols+loggedFrom+` WHERE d.id IN (?)`,
			`SELECT `+loggedCols+loggedFrom+` WHERE d.id = ANY($1::text[])`, chunk)
		if err != nil {
			return nil, err
		}
		var rows []deliveryRow
		if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
			return nil, wrap("read deliveries", err)
		}
		for _, r := range rows {
			out[r.ID] = r.record()
		}
	}
	return out, nil
}

func (f *Feed) pokeRefresh() {
	select {
	case f.refresh <- struct{}{}:
	default:
	}
}

// registryLoop keeps this process's registry rows fresh (and removes those of projects no longer watched) and
// re-reads which projects other processes watch.
func (f *Feed) registryLoop(stop context.Context) {
	poll := time.NewTicker(remotePoll)
	defer poll.Stop()
	lastRefresh := time.Now()
	for {
		select {
		case <-stop.Done():
			return
		case <-poll.C:
		case <-f.refresh:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		f.upkeep(ctx, time.Since(lastRefresh) >= watcherRefresh)
		if time.Since(lastRefresh) >= watcherRefresh {
			lastRefresh = time.Now()
		}
		f.refreshRemote(ctx)
		cancel()
	}
}

// upkeep deletes the registry rows of projects no longer watched here and, when refresh, extends the others.
func (f *Feed) upkeep(ctx context.Context, refresh bool) {
	f.mu.Lock()
	var gone, kept []string
	for p := range f.registered {
		if len(f.local[p]) == 0 {
			gone = append(gone, p)
			delete(f.registered, p)
		} else {
			kept = append(kept, p)
		}
	}
	f.mu.Unlock()
	if len(gone) > 0 {
		if _, err := f.s.db.ExecContext(ctx, `DELETE FROM delivery_watchers WHERE origin = $1 AND project_id = ANY($2::text[])`,
			f.s.origin, textArray(gone)); err != nil {
			f.s.log.Warn("unregister delivery watchers", "error", err) // the rows lapse after watcherTTL
		}
	}
	if refresh {
		// Rows of processes that ended without removing theirs (a crash), long lapsed; any process may clear them.
		if _, err := f.s.db.ExecContext(ctx, `DELETE FROM delivery_watchers WHERE expire_time < now() - $1::interval`,
			pgInterval(watcherTTL)); err != nil {
			f.s.log.Warn("clear lapsed delivery watchers", "error", err)
		}
	}
	if refresh && len(kept) > 0 {
		if _, err := f.s.db.ExecContext(ctx, `UPDATE delivery_watchers SET expire_time = now() + $3::interval
			WHERE origin = $1 AND project_id = ANY($2::text[])`, f.s.origin, textArray(kept), pgInterval(watcherTTL)); err != nil {
			f.s.log.Warn("refresh delivery watchers", "error", err)
		}
	}
}

// refreshRemote re-reads the projects other processes watch.
func (f *Feed) refreshRemote(ctx context.Context) {
	var projects []string
	if err := f.s.db.SelectContext(ctx, &projects, `SELECT DISTINCT project_id FROM delivery_watchers
		WHERE origin <> $1 AND expire_time > now()`, f.s.origin); err != nil {
		f.s.log.Warn("read delivery watchers", "error", err)
		return
	}
	remote := make(map[string]bool, len(projects))
	for _, p := range projects {
		remote[p] = true
	}
	f.mu.Lock()
	f.remote = remote
	f.active.Store(len(f.local) > 0 || len(f.remote) > 0)
	f.mu.Unlock()
}
