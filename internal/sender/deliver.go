package sender

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookd/hookd/internal/actiontoken"
	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/netguard"
	"github.com/hookd/hookd/internal/render"
	"github.com/hookd/hookd/internal/signature"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/tracing"
)

// Reasons of outcomes decided without a request (and health.FailWebhookDeleted, health.FailWebhookDisabled).
const (
	// ReasonActionTimeout fails a WAITING delivery whose action-status callback did not come in time.
	ReasonActionTimeout = "action status callback timed out"
)

const (
	// maxReasonBytes caps a reason taken from a response.
	maxReasonBytes = 1000
	// retryLoadDelay is when a delivery whose webhook could not be loaded (a database error) is due again.
	retryLoadDelay = 5 * time.Second
)

// message is what one request carries, whether for a delivery or a test send.
type message struct {
	msgID      string // webhook-id
	eventID    string
	eventType  string
	subject    string
	payload    json.RawMessage
	createTime time.Time
	attempt    int
	link       string
}

// appendEnvelope appends the default request body of m: {"id","type","timestamp","subject","data",
// "meta":{"deliveryId","attempt","link"}}, the bytes encoding/json makes of it (HTML characters escaped), without
// reflection and without re-parsing the payload (stored compact).
func appendEnvelope(b []byte, m message) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, m.eventID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, m.eventType)
	b = append(b, `,"timestamp":`...)
	b = appendJSONString(b, m.createTime.UTC().Format(time.RFC3339Nano))
	b = append(b, `,"subject":`...)
	b = appendJSONString(b, m.subject)
	b = append(b, `,"data":`...)
	switch data := m.payload; {
	case len(data) == 0:
		b = append(b, "null"...)
	case needsHTMLEscape(data):
		var buf bytes.Buffer
		if err := json.Compact(&buf, data); err != nil {
			b = append(b, "null"...)
			break
		}
		var esc bytes.Buffer
		json.HTMLEscape(&esc, buf.Bytes())
		b = append(b, esc.Bytes()...)
	default:
		b = append(b, data...)
	}
	b = append(b, `,"meta":{"deliveryId":`...)
	b = appendJSONString(b, m.msgID)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(m.attempt), 10)
	b = append(b, `,"link":`...)
	b = appendJSONString(b, m.link)
	return append(b, "}}"...)
}

// minPayloadRef is the smallest event payload an attempt's stored body refers to rather than copies.
const minPayloadRef = 64

// payloadSpan locates the event's payload in a stored default envelope (store.Attempt.PayloadAt/PayloadLen): the
// data member, when it holds the payload byte for byte (not HTML-escaped, not cut short or redacted by the
// stored copy). Zeros otherwise. JSON strings escape '"', so the first `,"data":` is the member's.
func payloadSpan(stored string, payload []byte) (at, n int) {
	if len(payload) < minPayloadRef {
		return 0, 0
	}
	const key = `,"data":`
	i := strings.Index(stored, key)
	if i < 0 || !strings.HasPrefix(stored[i+len(key):], string(payload)) {
		return 0, 0
	}
	return i + len(key), len(payload)
}

// needsHTMLEscape reports whether JSON text holds a character encoding/json escapes in its output (<, >, &,
// U+2028, U+2029).
func needsHTMLEscape(data []byte) bool {
	for i, c := range data {
		switch {
		case c == '<' || c == '>' || c == '&':
			return true
		case c == 0xE2 && i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xA8 || data[i+2] == 0xA9):
			return true
		}
	}
	return false
}

// appendJSONString appends s as a JSON string the way encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			q, _ := json.Marshal(s) // rare: escapes and non-ASCII
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// result is one request made (or refused) and its response.
type result struct {
	attempt   *store.Attempt
	status    int
	header    http.Header
	body      []byte
	err       error // network error, timeout or refused target
	permanent bool  // err cannot be fixed by retrying (refused target, bad template)
}

// deliver makes one attempt of a claimed delivery and returns its outcome. A panic in the attempt is contained:
// the attempt fails (FAILED at once, reason "panic: …": the same delivery would only panic again), the process
// and its other attempts go on, and hookd_sender_panics_total counts it.
func (s *Sender) deliver(ctx context.Context, d *store.ClaimedDelivery) (out store.Outcome) {
	defer func() {
		if v := recover(); v != nil {
			out = s.panicked(ctx, d, v)
		}
	}()
	if f := s.cfg.BeforeAttemptFunc; f != nil {
		f(ctx, d)
	}
	return s.attempt(ctx, d)
}

// panicked is the outcome of an attempt that panicked with v.
func (s *Sender) panicked(ctx context.Context, d *store.ClaimedDelivery, v any) store.Outcome {
	s.metrics.panics.Inc()
	reason := clean(fmt.Sprintf("panic: %v", v), maxReasonBytes)
	s.cfg.Log.ErrorContext(ctx, "delivery attempt panicked", "delivery_id", d.ID, "webhook_id", d.WebhookID,
		"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	now := s.now()
	return s.count(store.Outcome{DeliveryID: d.ID, ClaimToken: d.ClaimToken, WebhookID: d.WebhookID, Attempts: d.Attempts + 1,
		Status: store.StatusFailed, Reason: reason, Attempt: &store.Attempt{StartTime: now, Error: reason}})
}

// attempt makes one attempt of a claimed delivery and returns its outcome (deliver contains its panics).
func (s *Sender) attempt(ctx context.Context, d *store.ClaimedDelivery) store.Outcome {
	out := store.Outcome{DeliveryID: d.ID, ClaimToken: d.ClaimToken, Attempts: d.Attempts, Status: d.Status, WebhookID: d.WebhookID}
	now := s.now()
	if d.Status == store.StatusWaiting { // claimed because its wait ended: the callback never came
		out.Status, out.Reason = store.StatusFailed, ReasonActionTimeout
		return s.count(out)
	}
	t, err := s.targets.get(ctx, d.ProjectID, d.WebhookID)
	if err != nil {
		s.cfg.Log.ErrorContext(ctx, "load delivery target", "delivery_id", d.ID, "webhook_id", d.WebhookID, "error", err)
		out.NextAttemptTime = now.Add(retryLoadDelay)
		return s.count(out)
	}
	switch {
	case t.webhook == nil:
		out.Status, out.Reason = store.StatusFailed, health.FailWebhookDeleted.String()
		return s.count(out)
	case !t.webhook.Enabled:
		out.Status, out.Reason = store.StatusFailed, health.FailWebhookDisabled.String()
		return s.count(out)
	}
	listening := t.webhook.Transport == store.TransportListen
	if listening && (s.cfg.Listen == nil || !s.cfg.Listen.Connected(d.WebhookID)) {
		out.NextAttemptTime = now.Add(ListenRequeueDelay) // QUEUED, no attempt spent: see package listen
		return s.count(out)
	}
	var admitted time.Time // the time the rate limit counts the attempt from (zero: not limited)
	if in := t.integration; in != nil && in.RateLimitPerSecond > 0 {
		var ok bool
		if admitted, ok = s.admit(ctx, in, &out); !ok {
			return s.count(out)
		}
	}

	token := ""
	if s.cfg.ActionKeys != nil {
		token = actiontoken.New(s.cfg.ActionKeys, d.ID, d.Resends)
	}
	attempt := d.Attempts + 1
	ctx, span := s.startAttempt(ctx, d, attempt)
	req := s.build(ctx, t, message{
		msgID: d.ID, eventID: d.EventID, eventType: d.EventType, subject: d.Subject, payload: d.EventPayload,
		createTime: d.EventCreateTime, attempt: attempt, link: s.link(token),
	}, token)
	if !admitted.IsZero() && s.now().Sub(admitted) > RateLag {
		// The request was held up (a busy machine) for longer than the window's guard: it counts from now, so take
		// its admission again (the first one stays spent) or wait like any other.
		if _, ok := s.admit(ctx, t.integration, &out); !ok {
			span.End()
			return s.count(out)
		}
	}
	var res result
	if listening {
		var ok bool
		if res, ok = s.sendListen(ctx, d, attempt, req); !ok {
			span.End()
			out.NextAttemptTime = s.now().Add(ListenRequeueDelay)
			return s.count(out)
		}
	} else {
		res = s.send(ctx, t, req)
	}
	res.attempt.DeliveryID, res.attempt.Number = d.ID, attempt
	out.Attempt, out.Attempts, out.LastStatusCode = res.attempt, attempt, res.status
	v := decide(s.now(), rulesOf(t.webhook, t.keyed), res, attempt)
	out.Status, out.NextAttemptTime, out.Reason, out.DisableWebhook = v.status, v.next, v.reason, v.disable
	endAttempt(span, req, res, out.Status, out.Reason)
	if out.Status == store.StatusFailed {
		s.cfg.Log.InfoContext(ctx, "delivery failed", "delivery_id", d.ID, "webhook_id", d.WebhookID,
			"attempt", attempt, "status_code", res.status, "reason", out.Reason)
	}
	return s.count(out)
}

// admit takes an admission of the integration's rate limit at the current time, which it returns (the window
// counts the attempt from then, plus RateLag); without one it sets out's next attempt time (the delivery waits,
// never fails) and returns false.
func (s *Sender) admit(ctx context.Context, in *store.Integration, out *store.Outcome) (time.Time, bool) {
	key := "int:" + in.ID
	now := s.now()
	ok, next, err := s.limiter.Allow(ctx, key, in.RateLimitPerSecond, now)
	if err != nil {
		s.cfg.Log.ErrorContext(ctx, "take rate token", "integration_id", in.ID, "error", err)
		ok, next = false, now.Add(time.Second)
	}
	if !ok { // due again at this delivery's own slot after the next admission
		out.NextAttemptTime = s.slots.next(key, next, in.RateLimitPerSecond, now)
	}
	return now, ok
}

// link is the action-status link of a token (empty without one).
func (s *Sender) link(token string) string {
	if token == "" {
		return ""
	}
	return strings.TrimRight(s.cfg.PublicURL, "/") + "/v1/action-status/" + token
}

func (s *Sender) count(o store.Outcome) store.Outcome {
	s.metrics.outcome(o.WebhookID, string(o.Status))
	return o
}

// responseReason is the "reason" string of a JSON response body, if any.
func responseReason(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return ""
	}
	var r struct {
		Reason any `json:"reason"`
	}
	if json.Unmarshal(body, &r) != nil {
		return ""
	}
	reason, _ := r.Reason.(string)
	return clean(reason, maxReasonBytes)
}

// request is one request ready to be made, with the attempt record that describes it (secrets redacted).
type request struct {
	webhookID string
	attempt   *store.Attempt
	method    string
	url       string
	header    http.Header
	body      []byte
	timeout   time.Duration
	err       error        // why no request can be made (refused target, template error): a permanent failure
	client    *http.Client // the integration's mTLS client; nil: the sender's client
	bearer    string       // the OAuth2 access token sent, if any
}

// build renders and signs the request of message m to t. token, the action-status token in m's link, is
// redacted from what the attempt record keeps.
func (s *Sender) build(ctx context.Context, t *target, m message, token string) *request {
	start := s.now()
	r := &request{webhookID: t.webhook.ID, method: cmp.Or(strings.ToUpper(t.webhook.Method), store.DefaultHTTPMethod)}
	r.attempt = &store.Attempt{StartTime: start, RequestMethod: r.method}
	fail := func(err error) *request {
		r.err = err
		r.attempt.Error = clean(err.Error(), maxReasonBytes)
		return r
	}
	if t.invalid != "" {
		return fail(errors.New(t.invalid))
	}
	vars := render.Vars{
		EventID: m.eventID, EventType: m.eventType, Subject: m.subject, TransactionalId: m.msgID, Link: m.link,
		Timestamp: m.createTime, Attempt: m.attempt,
	}
	if t.templated() {
		_ = json.Unmarshal(m.payload, &vars.Data) // a payload that is not an object leaves Data empty
	}

	target, err := execute(ctx, t.urlTmpl, t.url, vars)
	if err != nil {
		return fail(err) // "template: url: …"
	}
	r.url = target
	r.attempt.RequestURL = clean(actiontoken.Redact(target, token), 8<<10)
	if t.webhook.Transport == store.TransportListen {
		r.attempt.RequestURL = listenURLPrefix + r.attempt.RequestURL // a path handed to a listen client
	} else if err := netguard.CheckURL(target, s.cfg.Dev); err != nil {
		return fail(fmt.Errorf("target refused: url %w", err))
	}

	header := make(http.Header)
	private := map[string]bool{}
	for _, h := range t.headers {
		v, err := execute(ctx, h.tmpl, h.Value, vars)
		if err != nil {
			return fail(err) // "template: header <name>: …"
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fail(fmt.Errorf("header %s: value has a line break or NUL", h.Name))
		}
		header.Set(h.Name, v)
		private[http.CanonicalHeaderKey(h.Name)] = h.Private
	}
	var body []byte
	if t.bodyTmpl != nil {
		text, err := t.bodyTmpl.Execute(ctx, vars)
		if err != nil {
			return fail(err) // "template: body_template: …"
		}
		body = []byte(text)
	} else {
		body = appendEnvelope(make([]byte, 0, len(m.payload)+256+len(m.link)), m)
	}
	if r.method == http.MethodGet {
		body = nil // a GET carries no body; the signature covers the empty body
	}
	if body != nil && header.Get("Content-Type") == "" {
		header.Set("Content-Type", "application/json")
	}
	if header.Get("User-Agent") == "" {
		header.Set("User-Agent", s.cfg.UserAgent)
	}
	signature.SchemeOf(t.webhook).Set(header, m.msgID, start, body, signature.Secrets(t.webhook, start)...)
	if !t.webhook.NoTraceparent && header.Get("Traceparent") == "" {
		tracing.Inject(ctx, header) // the attempt's span; not signed (the signature covers id.timestamp.body)
	}
	r.header, r.body = header, body
	r.attempt.RequestHeaders = storeHeaders(header, private, token)
	r.attempt.RequestBody = clean(actiontoken.Redact(string(body), token), s.cfg.MaxResponseBytes)
	if t.bodyTmpl == nil && body != nil {
		r.attempt.PayloadAt, r.attempt.PayloadLen = payloadSpan(r.attempt.RequestBody, m.payload)
	}
	r.timeout = s.cfg.Timeout
	if w := t.webhook.Timeout; w > 0 && w < r.timeout {
		r.timeout = w
	}
	return r
}

// do makes the request (unless it could not be built) and records the response in the result.
func (s *Sender) do(ctx context.Context, r *request) result {
	res := result{attempt: r.attempt}
	if r.err != nil {
		res.err, res.permanent = r.err, true
		return res
	}
	actx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, r.method, r.url, bytes.NewReader(r.body))
	if err != nil {
		res.err, res.permanent = fmt.Errorf("build request: %w", err), true
		res.attempt.Error = clean(res.err.Error(), maxReasonBytes)
		return res
	}
	req.Header = r.header
	if r.body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	began := time.Now()
	hc := s.client.Client
	if r.client != nil {
		hc = r.client
	}
	resp, err := hc.Do(req)
	if err == nil {
		res.status, res.header = resp.StatusCode, resp.Header
		res.body, err = io.ReadAll(io.LimitReader(resp.Body, int64(s.cfg.MaxResponseBytes)))
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10) // lets a short remainder keep the connection reusable
		_ = resp.Body.Close()
		res.attempt.ResponseStatusCode = resp.StatusCode
		res.attempt.ResponseHeaders = storeHeaders(resp.Header, nil, "")
		res.attempt.ResponseBody = clean(string(res.body), s.cfg.MaxResponseBytes)
		if err != nil { // the body broke off or timed out: the answer is incomplete, retry
			res.status = 0
		}
	}
	res.attempt.Duration = time.Since(began)
	s.metrics.attempt(r.webhookID, res.attempt.Duration)
	if err != nil {
		if errors.Is(err, errForbiddenAddress) {
			// The dial error names the resolved address: log it, keep it out of what the API shows.
			s.cfg.Log.InfoContext(ctx, "refused a target address", "webhook_id", r.webhookID, "error", err)
			err = errForbiddenAddress
		}
		res.err = err
		res.permanent = errors.Is(err, errForbiddenAddress)
		res.attempt.Error = clean(describeError(err, actx, r.timeout), maxReasonBytes)
	}
	return res
}

// describeError says what went wrong with a request, without repeating the method and URL.
func describeError(err error, actx context.Context, timeout time.Duration) string {
	if errors.Is(actx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("timeout after %s", timeout)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	if errors.Is(err, errForbiddenAddress) {
		return "target refused: " + err.Error()
	}
	return err.Error()
}

// execute renders tmpl (bounded, see render), or returns text when there is no template.
func execute(ctx context.Context, tmpl *render.Template, text string, vars render.Vars) (string, error) {
	if tmpl == nil {
		return text, nil
	}
	return tmpl.Execute(ctx, vars)
}

// storeHeaders converts headers for an attempt record, sorted; private values are kept but flagged Private,
// so the API shows them to ADMIN keys only (masked as ******** for everyone else); token is redacted.
func storeHeaders(h http.Header, private map[string]bool, token string) []store.Header {
	out := make([]store.Header, 0, len(h))
	for name, values := range h {
		for _, v := range values {
			out = append(out, store.Header{Name: strings.ToLower(name), Value: clean(actiontoken.Redact(v, token), 8<<10),
				Private: private[name]})
		}
	}
	slices.SortStableFunc(out, func(a, b store.Header) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// clean makes s storable: at most max bytes (cut at a character boundary), valid UTF-8, no NUL bytes.
func clean(s string, max int) string {
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "")
}
