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
	"github.com/lib/pq"

	"github.com/hookd/hookd/internal/store"
)

// Delivery watches (WatchDeliveries). While someone watches a project — in this process (local watchers) or in
// another (a row in delivery_watchers) — transactions note the ids of the deliveries they create or change in
// it. After commit the notes go to the feed's loop, which every resolveEvery reads the noted deliveries of
// locally watched projects in one query and hands them to their watchers, and sends the notes of projects
// watched elsewhere in NOTIFYs on changesChannel (ids only: each watching process reads the rows itself). When
// nobody watches, a commit only loads one atomic flag.
//
// A watcher's channel is buffered; one that is full when a change comes is closed (ErrFellBehind): a slow reader
// never blocks a commit or the loop.

const (
	changesChannel  = "hookd_delivery_changes"
	watchersChannel = "hookd_delivery_watchers"
	// watcherTTL is how long a watching process's registry row counts without being refreshed (a crashed
	// process's rows lapse); it is refreshed every watcherRefresh.
	watcherTTL     = 30 * time.Second
	watcherRefresh = 10 * time.Second
	// remotePoll is how often a process re-reads which projects other processes watch (also at once on a NOTIFY
	// on watchersChannel).
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

// feed routes noted changes to watchers.
type feed struct {
	s *Store
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

	startOnce sync.Once
	startErr  error
	kick      chan struct{}
	refresh   chan struct{}
	stop      chan struct{}
	wg        sync.WaitGroup
	pl        *pq.Listener
}

func newFeed(s *Store) *feed {
	return &feed{s: s, local: map[string]map[*watcher]struct{}{}, remote: map[string]bool{}, pending: map[*sqlx.Tx][]noted{},
		registered: map[string]bool{}, kick: make(chan struct{}, 1), refresh: make(chan struct{}, 1), stop: make(chan struct{})}
}

// StartFeed starts routing delivery changes between processes: every serving process runs it, so that changes it
// commits reach watchers elsewhere (PostgreSQL; on SQLite it only starts the local loop). WatchDeliveries starts
// it too. Close stops it.
func (s *Store) StartFeed(ctx context.Context) error { return s.feed.start(ctx) }

func (f *feed) start(ctx context.Context) error {
	f.startOnce.Do(func() {
		if f.s.pg() {
			if f.startErr = f.listen(); f.startErr != nil {
				return
			}
			f.refreshRemote(ctx)
			f.wg.Add(1)
			go f.registryLoop()
		}
		f.wg.Add(1)
		go f.loop()
	})
	return f.startErr
}

// close stops the loops and removes this process's registry rows.
func (f *feed) close() {
	started := true
	f.startOnce.Do(func() { started = false })
	if !started {
		return
	}
	close(f.stop)
	if f.pl != nil {
		_ = f.pl.Close()
	}
	f.wg.Wait()
	f.mu.Lock()
	for p, ws := range f.local {
		for w := range ws {
			f.drop(w, errors.New("store closed"))
		}
		delete(f.local, p)
	}
	f.mu.Unlock()
	if f.s.pg() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _ = f.s.db.ExecContext(ctx, `DELETE FROM delivery_watchers WHERE origin = $1`, f.s.origin)
	}
}

// WatchDeliveries implements store.Store.
func (s *Store) WatchDeliveries(ctx context.Context, projectID string, buffer int) (<-chan store.DeliveryChange, func() error, error) {
	f := s.feed
	if err := f.start(ctx); err != nil {
		return nil, nil, err
	}
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
		case <-f.stop:
		}
	}()
	return w.ch, func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		return w.err
	}, nil
}

// remove ends a watcher (if it still runs) with err.
func (f *feed) remove(w *watcher, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.local[w.projectID][w]; ok {
		f.drop(w, err)
	}
}

// drop closes w with err and forgets it (f.mu held).
func (f *feed) drop(w *watcher, err error) {
	w.err = err
	close(w.ch)
	delete(f.local[w.projectID], w)
	if len(f.local[w.projectID]) == 0 {
		delete(f.local, w.projectID)
	}
	f.active.Store(len(f.local) > 0 || len(f.remote) > 0)
}

// register records (PostgreSQL) that this process watches projectID and tells the other processes.
func (f *feed) register(ctx context.Context, projectID string) error {
	if _, err := f.s.db.ExecContext(ctx, `INSERT INTO delivery_watchers (origin, project_id, expire_time)
		VALUES ($1, $2, now() + $3::interval) ON CONFLICT (origin, project_id) DO UPDATE SET expire_time = excluded.expire_time`,
		f.s.origin, projectID, pgInterval(watcherTTL)); err != nil {
		return wrap("register delivery watcher", err)
	}
	f.mu.Lock()
	f.registered[projectID] = true
	f.mu.Unlock()
	if _, err := f.s.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, watchersChannel, f.s.origin); err != nil {
		f.s.log.Warn("announce delivery watcher", "error", err) // others find the row at their next poll
	}
	return nil
}

func pgInterval(d time.Duration) string {
	return strconv.FormatInt(d.Microseconds(), 10) + " microseconds"
}

// note records, in tx, changes of the project's deliveries for its watchers (a no-op while nobody watches).
func (s *Store) note(tx *sqlx.Tx, projectID string, kind store.ChangeKind, now time.Time, ids ...string) {
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
func (s *Store) noteChanges(tx *sqlx.Tx, now time.Time, changes []change) {
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
func (f *feed) finished(tx *sqlx.Tx, committed bool) {
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

func (f *feed) poke() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// loop handles ready notes in bursts: it announces those of remotely watched projects and resolves those of
// locally watched ones.
func (f *feed) loop() {
	defer f.wg.Done()
	for {
		select {
		case <-f.stop:
			return
		case <-f.kick:
		}
		select { // let the burst gather
		case <-f.stop:
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
func (f *feed) announce(ctx context.Context, notes []noted) {
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
			if _, err := f.s.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, changesChannel, head+b.String()); err != nil {
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
func (f *feed) received(payload string) {
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
func (f *feed) resolve(ctx context.Context, notes []noted) {
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
func (s *Store) deliveriesByID(ctx context.Context, ids []string) (map[string]store.Delivery, error) {
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

// listen opens the LISTEN connection for other processes' changes and watcher announcements.
func (f *feed) listen() error {
	log := f.s.log
	pl := pq.NewListener(f.s.url, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnectionAttemptFailed, pq.ListenerEventDisconnected:
			log.Warn("delivery feed listener connection problem", "event", int(ev), "error", err)
		}
	})
	for _, ch := range []string{changesChannel, watchersChannel} {
		if err := pl.Listen(ch); err != nil {
			_ = pl.Close()
			return wrap("listen for delivery changes", err)
		}
	}
	f.pl = pl
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for n := range pl.NotificationChannel() {
			switch {
			case n == nil: // reconnected: watchers may have come or gone meanwhile
				f.pokeRefresh()
			case n.Channel == watchersChannel:
				if n.Extra != f.s.origin {
					f.pokeRefresh()
				}
			default:
				f.received(n.Extra)
			}
		}
	}()
	return nil
}

func (f *feed) pokeRefresh() {
	select {
	case f.refresh <- struct{}{}:
	default:
	}
}

// registryLoop keeps this process's registry rows fresh (and removes those of projects no longer watched) and
// re-reads which projects other processes watch.
func (f *feed) registryLoop() {
	defer f.wg.Done()
	poll := time.NewTicker(remotePoll)
	defer poll.Stop()
	lastRefresh := time.Now()
	for {
		select {
		case <-f.stop:
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
func (f *feed) upkeep(ctx context.Context, refresh bool) {
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
func (f *feed) refreshRemote(ctx context.Context) {
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
