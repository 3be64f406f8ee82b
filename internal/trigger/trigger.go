// Package trigger serves inbound triggers: the public endpoint `<public-url>/t/<id>` that records each request
// as an execution and publishes it as an event, and the sync result URL `/v1/executions/<id>/result`. The
// TriggerService that manages triggers and lists executions is an admin RPC like the others, in package api.
package trigger

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/groupcommit"
	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/ratelimit"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testsignal"
	"github.com/hookd/hookd/internal/tracing"
)

// Limits and defaults of triggers.
const (
	// DefaultMaxBodyBytes caps request bodies when neither the config nor the trigger sets a limit.
	DefaultMaxBodyBytes = 1 << 20
	// MaxMaxBodyBytes is the largest body limit a trigger may set.
	MaxMaxBodyBytes = 10 << 20
	// DefaultRateLimit is the rate of triggers created without one (requests per second).
	DefaultRateLimit = 50
	// MaxRateLimit is the largest rate a trigger may set.
	MaxRateLimit = 100000
	// DefaultSyncTimeout bounds the wait of sync triggers created without a timeout.
	DefaultSyncTimeout = 30 * time.Second
	// MaxSyncTimeout is the longest wait a sync trigger may set.
	MaxSyncTimeout = 60 * time.Second
	// DefaultTriggerCacheTTL is how long the public endpoint reuses a trigger it read.
	DefaultTriggerCacheTTL = time.Second
	// DefaultAuthFailureRate is how many failed authentications (bad API key or signature) a trigger answers
	// with 401 per second, across processes; beyond it they get 429. It is a window of its own: failures
	// never spend the trigger's rate_limit_per_second.
	DefaultAuthFailureRate = 10
	// DefaultRejectRecordRate is how many rejected requests (401, 413, 429) per trigger and second a process
	// records as executions (without their bodies); the others are only counted in hookd_trigger_requests_total.
	DefaultRejectRecordRate = 10
	// RejectedBodyPrefixBytes is how much of a rejected request's body its execution keeps (400 and 404 answers;
	// 401, 413 and 429 keep none); BodyTruncated marks a longer body.
	RejectedBodyPrefixBytes = 1024
)

// recordTimeout bounds storing an execution once its body is read (even if the caller hangs up).
const recordTimeout = 10 * time.Second

// Config configures the public trigger endpoint (api.TriggerConfig takes MaxBodyBytes and DefaultRateLimit too,
// for what TriggerService shows and stores).
type Config struct {
	// Store is the database.
	Store store.Store
	// Rates holds the triggers' shared rate buckets.
	Rates ratelimit.Windows
	// Outcomes signals the delivery outcomes this process commits, so that sync requests re-read their event at
	// once (optional: without it they re-read every SyncPollInterval).
	Outcomes OutcomeSignal
	// Clock tells the time (default the wall clock).
	Clock clock.Clock
	// Log receives internal errors (default slog.Default()).
	Log *slog.Logger
	// PublicURL is the base of trigger URLs and result links, without a trailing slash.
	PublicURL string
	// MaxBodyBytes caps request bodies (default 1 MiB); a trigger's max_body_bytes overrides it.
	MaxBodyBytes int64
	// DefaultRateLimit is the rate given to triggers created without one (default 50 per second).
	DefaultRateLimit int
	// SyncPollInterval is how often a sync request re-checks its event's deliveries when no notification
	// came (default 1 s: outcomes written by this process wake it at once; this catches other processes').
	SyncPollInterval time.Duration
	// Keyring makes the sync result tokens (default: a random keyring, valid in this process only).
	Keyring *secret.Keyring
	// AuthFailureRate is DefaultAuthFailureRate unless set.
	AuthFailureRate int
	// MaxPayloadBytes caps the event payload (default store.DefaultMaxPayloadBytes); larger requests are recorded
	// and get 413.
	MaxPayloadBytes int
	// Registerer receives hookd_trigger_requests_total (optional).
	Registerer prometheus.Registerer
	// TriggerCacheTTL is how long the public endpoint reuses a trigger it read (default 1 s; negative: no cache),
	// so a disabled, updated or deleted trigger takes effect within it.
	TriggerCacheTTL time.Duration
	// Signals, when set, reports the handler's steps to a test (see TestSignals).
	Signals *TestSignals
}

// TestSignals lets a test wait for the trigger handler's steps instead of polling: set Config.Signals, Init the
// signals the test reads, and wait on them.
type TestSignals struct {
	// Published receives the event id of each execution whose event was published (its transaction committed).
	Published testsignal.Signal[string]
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, DefaultMaxBodyBytes)
	c.DefaultRateLimit = cmp.Or(c.DefaultRateLimit, DefaultRateLimit)
	c.SyncPollInterval = cmp.Or(c.SyncPollInterval, time.Second)
	if c.Keyring == nil {
		c.Keyring = secret.NewRandom()
	}
	c.AuthFailureRate = cmp.Or(c.AuthFailureRate, DefaultAuthFailureRate)
	c.MaxPayloadBytes = cmp.Or(c.MaxPayloadBytes, store.DefaultMaxPayloadBytes)
	c.TriggerCacheTTL = cmp.Or(c.TriggerCacheTTL, DefaultTriggerCacheTTL)
	return c
}

// handler serves `/t/<id>[/<fragment>]` and `/v1/executions/<id>/result`.
type handler struct {
	cfg      Config
	requests *prometheus.CounterVec
	triggers *triggerCache
	// batch writes executions of concurrent requests in shared transactions.
	batch *groupcommit.Batcher[store.ExecutionRecord, *store.PublishResult]
	// limiter enforces each trigger's rate (and its failed-authentication rate) across processes.
	limiter *ratelimit.Limiter
	// recordRejects bounds how many rejected requests are recorded per trigger.
	recordRejects *localLimiter
}

// NewHandler returns the public HTTP handler of triggers; mount it at "/t/" and "/v1/executions/".
// Executions of concurrent requests are stored in shared transactions by writer goroutines that start on
// demand and exit when idle.
func NewHandler(cfg Config) http.Handler {
	cfg = cfg.withDefaults()
	h := &handler{
		cfg:           cfg,
		limiter:       ratelimit.New(cfg.Rates),
		recordRejects: newLocalLimiter(DefaultRejectRecordRate, cfg.Clock),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_trigger_requests_total",
			Help: "Requests received by inbound triggers, by HTTP status answered.",
		}, []string{"code"}),
		triggers: newTriggerCache(cfg.Store, cfg.Clock, cfg.TriggerCacheTTL),
		batch: groupcommit.New(groupcommit.Config{Timeout: recordTimeout, Log: cfg.Log, Name: "trigger: record executions",
			WriteAlone: true},
			func(ctx context.Context, recs []store.ExecutionRecord) ([]*store.PublishResult, error) {
				return cfg.Store.RecordExecutions(ctx, recs, cfg.Clock.Now().UTC())
			}),
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(h.requests); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(err)
			}
			h.requests = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return h
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setInert(w.Header()) // every answer, whatever its kind
	switch {
	case strings.HasPrefix(r.URL.Path, "/t/"):
		sw := &statusWriter{ResponseWriter: w}
		h.serveTrigger(sw, w, r)
		h.requests.WithLabelValues(strconv.Itoa(sw.status())).Inc()
	case strings.HasPrefix(r.URL.Path, "/v1/executions/"):
		h.serveResult(w, r)
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

// serveTrigger handles one call of a trigger; raw is the server's writer (for http.MaxBytesReader).
func (h *handler) serveTrigger(w http.ResponseWriter, raw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	triggerID, fragment, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/t/"), "/")
	if !id.HasPrefix(triggerID, id.Trigger) {
		writeError(w, http.StatusNotFound, "trigger not found")
		return
	}
	if !slices.Contains(store.HTTPMethods, r.Method) {
		w.Header().Set("Allow", strings.Join(store.HTTPMethods, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed")
		return
	}
	t, err := h.triggers.get(ctx, triggerID)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && !t.Enabled):
		writeError(w, http.StatusNotFound, "trigger not found")
		return
	case err != nil:
		h.internal(ctx, w, "find trigger", err, "trigger_id", triggerID)
		return
	}
	now := h.cfg.Clock.Now().UTC()
	// Authentication comes first, and failures spend their own bucket: a stranger's bad requests can never use
	// up the trigger's rate and get the real sender 429s.
	if !apiKeyOK(t, r.Header) {
		h.authFailed(ctx, w, t, r, fragment, now, "missing or invalid API key in header "+t.APIKeyHeader)
		return
	}
	body, status, err := readBody(raw, r, cmp.Or(t.MaxBodyBytes, h.cfg.MaxBodyBytes))
	if err != nil {
		if status == http.StatusRequestEntityTooLarge {
			h.recordRejected(ctx, w, t, r, fragment, now, status, true)
		}
		writeError(w, status, err.Error())
		return
	}
	once, err := verifySignature(t.Signature, r, t.ID, body, now)
	if err != nil {
		if !errors.Is(err, errBadSignature) {
			h.cfg.Log.WarnContext(ctx, "trigger signature check", "trigger_id", t.ID, "error", err)
		}
		h.authFailed(ctx, w, t, r, fragment, now, errBadSignature.Error())
		return
	}
	rate := cmp.Or(t.RateLimitPerSecond, h.cfg.DefaultRateLimit)
	ok, next, err := h.limiter.Allow(ctx, "trg:"+t.ID, rate, now)
	if err != nil {
		h.internal(ctx, w, "take rate token", err, "trigger_id", t.ID)
		return
	}
	if !ok {
		h.recordRejected(ctx, w, t, r, fragment, now, http.StatusTooManyRequests, len(body) > 0)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(next.Sub(now).Seconds())))))
		writeError(w, http.StatusTooManyRequests, "trigger "+t.ID+" has exceeded its maximum allowed throughput of "+
			strconv.Itoa(rate)+" requests/second. Please throttle your requests.")
		return
	}
	// A timestamped signature is remembered only now: a request refused with 429 may be sent again as it was.
	if once != nil {
		fresh, err := h.cfg.Store.RememberTriggerSignature(ctx, store.RememberTriggerSignatureParams{TriggerID: t.ID, Digest: once.Digest, Expire: once.Expire, Now: now})
		if err != nil {
			h.internal(ctx, w, "remember signature", err, "trigger_id", t.ID)
			return
		}
		if !fresh {
			h.authFailed(ctx, w, t, r, fragment, now, errReplayed.Error())
			return
		}
	}
	h.ingest(ctx, w, t, r, fragment, body, now)
}

// authFailed answers a request that failed authentication: 401 while the trigger's failed-authentication bucket
// has tokens, 429 beyond (the trigger's own rate is untouched).
func (h *handler) authFailed(ctx context.Context, w http.ResponseWriter, t *store.Trigger, r *http.Request, fragment string, now time.Time, msg string) {
	ok, next, err := h.limiter.Allow(ctx, "trg-auth:"+t.ID, h.cfg.AuthFailureRate, now)
	if err != nil {
		h.internal(ctx, w, "take auth failure token", err, "trigger_id", t.ID)
		return
	}
	if !ok {
		h.recordRejected(ctx, w, t, r, fragment, now, http.StatusTooManyRequests, r.ContentLength != 0)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(next.Sub(now).Seconds())))))
		writeError(w, http.StatusTooManyRequests, "too many failed authentications for trigger "+t.ID)
		return
	}
	h.recordRejected(ctx, w, t, r, fragment, now, http.StatusUnauthorized, r.ContentLength != 0)
	writeError(w, http.StatusUnauthorized, msg)
}

// recordRejected records a 401, 413 or 429 as an execution without its body (BodyTruncated when it had one),
// within DefaultRejectRecordRate per trigger; storing is best effort and never delays the answer much.
func (h *handler) recordRejected(ctx context.Context, w http.ResponseWriter, t *store.Trigger, r *http.Request, fragment string, now time.Time, status int, hadBody bool) {
	if !h.recordRejects.allow(t.ID) {
		return
	}
	e := h.newExecution(t, r, fragment, now)
	e.Status, e.BodyTruncated = status, hadBody
	w.Header().Set("Hookd-Execution-Id", e.ID)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if _, err := h.batch.Do(rctx, store.ExecutionRecord{Execution: e}); err != nil {
		h.cfg.Log.ErrorContext(ctx, "record rejected execution", "trigger_id", t.ID, "status", status, "error", err)
	}
}

// newExecution starts the execution record of a request (headers and query parameters, credentials private).
func (h *handler) newExecution(t *store.Trigger, r *http.Request, fragment string, now time.Time) *store.Execution {
	return &store.Execution{
		ID: id.New(id.Execution, now), ProjectID: t.ProjectID, TriggerID: t.ID, ReceiveTime: now, Method: r.Method,
		Headers: recordedHeaders(r.Header, t), QueryParameters: recordedQuery(r.URL.Query(), t),
		PathFragment: clean(fragment), ContentType: clean(r.Header.Get("Content-Type")),
	}
}

// ingest records the execution, publishes its event and answers.
func (h *handler) ingest(ctx context.Context, w http.ResponseWriter, t *store.Trigger, r *http.Request, fragment string, body []byte, now time.Time) {
	ct := r.Header.Get("Content-Type")
	e := h.newExecution(t, r, fragment, now)
	w.Header().Set("Hookd-Execution-Id", e.ID)
	// Storing must not depend on the caller waiting: the body has been accepted.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()

	p, perr := parseBody(ct, body)
	e.RawBody, e.RawBodyBase64 = p.Raw, p.RawBase64
	if perr != nil {
		keepPrefix(e)
		h.reject(rctx, w, e, http.StatusBadRequest, perr.Error())
		return
	}
	if raw, ok := p.Data.(json.RawMessage); ok {
		e.Body = raw
	} else if p.Data != nil {
		b, err := json.Marshal(p.Data)
		if err != nil {
			h.internal(ctx, w, "marshal body", err, "trigger_id", t.ID)
			return
		}
		e.Body = b
	}
	eventType, sel, ok := eventTypeFor(t, r.Header, p.Data)
	if !ok {
		keepPrefix(e)
		h.reject(rctx, w, e, http.StatusNotFound, "no route matches the request")
		return
	}
	if e.Subject, ok = subjectFor(sel, r.Header, p.Data); !ok {
		e.Subject = ""
		h.reject(rctx, w, e, http.StatusBadRequest, "the subject picked from the request is longer than "+
			strconv.Itoa(store.MaxSubjectLen)+" bytes")
		return
	}
	payload, err := encodePayload(eventPayload{
		Data: p.Data, RawBody: p.Raw, RawBodyBase64: p.RawBase64, Headers: payloadHeaders(r.Header, t),
		QueryParameters: payloadQuery(r.URL.Query(), t), PathFragment: e.PathFragment, Method: r.Method, ContentType: e.ContentType,
	})
	if err != nil {
		h.internal(ctx, w, "marshal payload", err, "trigger_id", t.ID)
		return
	}
	if len(payload) > h.cfg.MaxPayloadBytes {
		e.RawBody, e.RawBodyBase64, e.Body, e.BodyTruncated = "", false, nil, true // a 413 stores no body
		h.reject(rctx, w, e, http.StatusRequestEntityTooLarge, "event payload of "+strconv.Itoa(len(payload))+
			" bytes exceeds the limit of "+strconv.Itoa(h.cfg.MaxPayloadBytes)+" bytes")
		return
	}
	e.Status = responseStatus(t)
	// The event carries the trace of this request: its attempts join it.
	ev := store.Event{EventType: eventType, Subject: e.Subject, Payload: payload, Trace: tracing.Capture(ctx)}
	_, err = h.batch.Do(rctx, store.ExecutionRecord{Execution: e, Publish: &store.PublishInput{Event: ev}})
	if errors.Is(err, store.ErrNotFound) { // deleted while we read the body
		writeError(w, http.StatusNotFound, "trigger not found")
		return
	}
	if err != nil {
		h.internal(ctx, w, "record execution", err, "trigger_id", t.ID)
		return
	}
	if h.cfg.Signals != nil {
		h.cfg.Signals.Published.Signal(e.EventID)
	}
	tracing.Annotate(ctx, tracing.KeyTriggerID.String(t.ID), tracing.KeyExecutionID.String(e.ID), tracing.KeyEventID.String(e.EventID))
	switch {
	case t.Sync:
		h.waitForDeliveries(ctx, t, e.EventID)
		w.Header().Set("Location", h.resultURL(e.ID))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusSeeOther)
	case t.HasCustomResponse():
		w.Header().Set("Content-Type", servedContentType(t.ResponseType))
		w.WriteHeader(e.Status)
		_, _ = w.Write([]byte(t.ResponseBody))
	default:
		writeJSON(w, http.StatusOK, map[string]string{"executionId": e.ID})
	}
}

// eventPayload is the payload of a trigger's event.
type eventPayload struct {
	Data            any               `json:"data"`
	RawBody         string            `json:"rawBody"`
	RawBodyBase64   bool              `json:"rawBodyBase64"`
	Headers         map[string]string `json:"headers"`
	QueryParameters map[string]any    `json:"queryParameters"`
	PathFragment    string            `json:"pathFragment"`
	Method          string            `json:"method"`
	ContentType     string            `json:"contentType"`
}

// encodePayload is json.Marshal(p) without encoding/json's second pass over Data when Data is a
// json.RawMessage (parseBody has already validated and compacted it).
func encodePayload(p eventPayload) ([]byte, error) {
	raw, ok := p.Data.(json.RawMessage)
	if !ok {
		return json.Marshal(p)
	}
	p.Data = nil
	rest, err := json.Marshal(p) // {"data":null,…}
	if err != nil {
		return nil, err
	}
	const head = `{"data":null`
	if !bytes.HasPrefix(rest, []byte(head)) { // data is no longer the first field
		p.Data = raw
		return json.Marshal(p)
	}
	out := make([]byte, 0, len(rest)+len(raw))
	out = append(out, `{"data":`...)
	out = append(out, raw...)
	return append(out, rest[len(head):]...), nil
}

// keepPrefix cuts a rejected execution's body to RejectedBodyPrefixBytes (marking it truncated) and drops the
// parsed body.
func keepPrefix(e *store.Execution) {
	e.Body = nil
	if len(e.RawBody) > RejectedBodyPrefixBytes {
		cut := RejectedBodyPrefixBytes
		for cut > 0 && !utf8.RuneStart(e.RawBody[cut]) {
			cut--
		}
		e.RawBody, e.BodyTruncated = e.RawBody[:cut], true
	}
}

// reject records an execution that publishes no event and answers status with msg.
func (h *handler) reject(ctx context.Context, w http.ResponseWriter, e *store.Execution, status int, msg string) {
	e.Status = status
	if _, err := h.batch.Do(ctx, store.ExecutionRecord{Execution: e}); err != nil {
		h.cfg.Log.ErrorContext(ctx, "record rejected execution", "trigger_id", e.TriggerID, "execution_id", e.ID, "error", err)
	}
	writeError(w, status, msg)
}

// resultURL is the sync result link of an execution: its id locates it, the token (a MAC of the id, never
// stored) is the capability.
func (h *handler) resultURL(executionID string) string {
	return h.cfg.PublicURL + "/v1/executions/" + executionID + "/result?token=" + h.resultToken(executionID)
}

// resultToken is the capability of an execution's sync result.
func (h *handler) resultToken(executionID string) string {
	return base64.RawURLEncoding.EncodeToString(h.cfg.Keyring.MAC(resultTokenPurpose, []byte(executionID)))
}

// resultTokenPurpose separates result tokens from every other MAC of the keyring.
const resultTokenPurpose = "sync-result"

func (h *handler) internal(ctx context.Context, w http.ResponseWriter, op string, err error, args ...any) {
	h.cfg.Log.ErrorContext(ctx, "trigger: "+op, append(args, "error", err)...)
	writeError(w, http.StatusInternalServerError, "internal error")
}

// responseStatus is the status a trigger answers to an accepted request.
func responseStatus(t *store.Trigger) int {
	switch {
	case t.Sync:
		return http.StatusSeeOther
	case t.HasCustomResponse():
		return cmp.Or(t.ResponseStatus, http.StatusOK)
	default:
		return http.StatusOK
	}
}

// apiKeyOK checks the trigger's API key header against the stored hash, in constant time.
func apiKeyOK(t *store.Trigger, h http.Header) bool {
	if t.APIKeyHeader == "" {
		return true
	}
	return secret.KeyMatches(t.APIKey, h.Get(t.APIKeyHeader))
}

// readBody reads at most limit bytes; a larger body (declared or chunked) gives 413, never a truncated body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, int, error) {
	tooLarge := errors.New("request body exceeds the limit of " + strconv.FormatInt(limit, 10) + " bytes")
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	b, err := readAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	case err != nil:
		return nil, http.StatusBadRequest, errors.New("cannot read the request body")
	}
	return b, 0, nil
}

// readAll is io.ReadAll with a first buffer sized for a declared length (one allocation for most bodies).
func readAll(r io.Reader, declared int64) ([]byte, error) {
	b := make([]byte, 0, max(512, min(declared, 1<<20)+1)) // +1: reading EOF needs no growth
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow
		}
	}
}

// CredentialHeaders are never copied into a trigger's event payload (besides the trigger's API key header, its
// signature header and its drop_headers): a VIEWER reading events, and every subscribed webhook, would see them.
var CredentialHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "Webhook-Signature"}

// isCredential reports whether header name is a credential of requests to t (or listed in its drop_headers).
func isCredential(t *store.Trigger, name string) bool {
	if (t.APIKeyHeader != "" && strings.EqualFold(name, t.APIKeyHeader)) ||
		(t.Signature.Header != "" && strings.EqualFold(name, t.Signature.Header)) {
		return true
	}
	eq := func(s string) bool { return strings.EqualFold(s, name) }
	return slices.ContainsFunc(CredentialHeaders, eq) || slices.ContainsFunc(t.DropHeaders, eq)
}

// isOwnKey reports whether v carries the trigger's API key (compared with its stored hash), alone or after a
// scheme word ("Bearer <key>"). Wherever the key arrives (a header renamed or cleared since callers were set up, a
// query parameter, the wrong header) it is never recorded and never published. The stored hash outlives a
// cleared api_key_header for this purpose.
func isOwnKey(t *store.Trigger, v string) bool {
	if t.APIKey == "" {
		return false
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return false
	}
	if secret.KeyMatches(t.APIKey, v) {
		return true
	}
	i := strings.LastIndexAny(v, " \t")
	return i >= 0 && secret.KeyMatches(t.APIKey, v[i+1:])
}

// recordedHeaders lists request headers sorted by name; credentials are private (encrypted at rest, masked for
// non-ADMIN) and the trigger's own API key is not kept at all (only its hash is stored), in any header.
func recordedHeaders(h http.Header, t *store.Trigger) []store.Header {
	var out []store.Header
	for _, k := range slices.Sorted(maps.Keys(h)) {
		private := isCredential(t, k)
		keyHeader := t.APIKeyHeader != "" && strings.EqualFold(k, t.APIKeyHeader)
		for _, v := range h[k] {
			p := private
			if keyHeader || isOwnKey(t, v) {
				v, p = secret.Masked, true
			}
			out = append(out, store.Header{Name: clean(k), Value: clean(v), Private: p})
		}
	}
	return out
}

// recordedQuery lists query parameters sorted by name, keeping every value; drop_query_parameters are private,
// and a value carrying the trigger's API key is not kept.
func recordedQuery(q url.Values, t *store.Trigger) []store.Header {
	var out []store.Header
	for _, k := range slices.Sorted(maps.Keys(q)) {
		private := slices.Contains(t.DropQueryParameters, k)
		for _, v := range q[k] {
			p := private
			if isOwnKey(t, v) {
				v, p = secret.Masked, true
			}
			out = append(out, store.Header{Name: clean(k), Value: clean(v), Private: p})
		}
	}
	return out
}

// payloadHeaders are the request headers of the event: lowercase names, repeated values joined with ", ".
// Credential headers (isCredential) and headers carrying the trigger's API key are left out: they never reach
// VIEWERs or webhook receivers.
func payloadHeaders(h http.Header, t *store.Trigger) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		if isCredential(t, k) || slices.ContainsFunc(vs, func(v string) bool { return isOwnKey(t, v) }) {
			continue
		}
		out[clean(strings.ToLower(k))] = clean(strings.Join(vs, ", "))
	}
	return out
}

// payloadQuery is the query of the event: a string per name, or an array when the name repeats; the trigger's
// drop_query_parameters and values carrying its API key are left out.
func payloadQuery(q url.Values, t *store.Trigger) map[string]any {
	if len(t.DropQueryParameters) > 0 || t.APIKey != "" {
		q = maps.Clone(q)
		for _, k := range t.DropQueryParameters {
			delete(q, k)
		}
		for k, vs := range q {
			if kept := slices.DeleteFunc(slices.Clone(vs), func(v string) bool { return isOwnKey(t, v) }); len(kept) < len(vs) {
				if len(kept) == 0 {
					delete(q, k)
				} else {
					q[k] = kept
				}
			}
		}
	}
	return fields(q)
}

// writeError answers {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// statusWriter remembers the status written (for the requests metric).
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) status() int { return cmp.Or(s.code, http.StatusOK) }
