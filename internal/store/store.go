// Package store defines hookd's persistence: the domain records, the Store interface and its errors.
// Implementations live in sub-packages (storesql: PostgreSQL and embedded SQLite); only they hold SQL.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"
)

// Errors returned by every Store implementation; the API layer maps them to Connect codes.
var (
	// ErrNotFound means the record does not exist in the caller's project.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means a unique field (e.g. a webhook's system name) is taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict means the record is in the wrong state for the change (e.g. still in use).
	ErrConflict = errors.New("conflict")
	// ErrFellBehind ends a delivery watch whose reader did not keep up with the changes.
	ErrFellBehind = errors.New("watcher fell behind")
	// ErrStale means an update was made from a stale read: the record changed (its Version moved) since it was
	// read. The caller reads it again and reapplies its change.
	ErrStale = errors.New("changed since it was read")
	// ErrSecretUnreadable means a record's stored secret cannot be decrypted (its key is not in the keyring, or
	// the value is damaged). Get returns it; List returns the record with SecretsUnreadable set instead.
	ErrSecretUnreadable = errors.New("a stored secret cannot be decrypted with this server's keys")
	// ErrWrongTenant means a directed publish named a webhook of another tenant than the event's.
	ErrWrongTenant = errors.New("the webhook belongs to another tenant")
)

// MaxTenantIDLen is the longest tenant id; a tenant id is made of [A-Za-z0-9._:-].
const MaxTenantIDLen = 128

// ValidTenantID reports whether t is a well-formed, non-empty tenant id.
func ValidTenantID(t string) bool {
	if t == "" || len(t) > MaxTenantIDLen {
		return false
	}
	for _, c := range []byte(t) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// WebhookFilter narrows FilterWebhooks.
type WebhookFilter struct {
	IntegrationID string
	TenantID      string
}

// Page asks for one page of a list ordered by id, newest first.
type Page struct {
	// Size is the maximum number of records (already defaulted and capped by the caller).
	Size int
	// After is the last id of the previous page; empty for the first page.
	After string
	// MaxBytes, when positive, is the page's byte budget: the store stops reading once the records it read reach
	// MaxBytes (by RecordBytes) and returns them, the one that reached it last; a page may then hold fewer than
	// Size records while more follow (pagination.Trim tells). Zero: no budget.
	MaxBytes int
}

// Role is what an API key may do.
type Role string

// Roles.
const (
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
	RoleViewer Role = "viewer"
)

// Project isolates every other record.
type Project struct {
	ID         string
	Name       string
	CreateTime time.Time
	UpdateTime time.Time
	// Retention is how long the project's log is kept (0: the instance's retention; never longer than it).
	Retention time.Duration
	// PayloadRetention is how long payloads and bodies are kept (0: as long as the rest of the log).
	PayloadRetention time.Duration
	// Version counts the updates of the project: UpdateProject writes over the version read (ErrStale when it moved).
	Version int64
}

// APIKey is a credential; only the SHA-256 hash of the secret is stored.
type APIKey struct {
	ID            string
	ProjectID     string
	Name          string
	Role          Role
	InstanceAdmin bool
	Prefix        string
	Hash          []byte
	CreateTime    time.Time
	UpdateTime    time.Time
	RevokeTime    *time.Time
}

// Header is an HTTP header; Private values are secret.
type Header struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	Private bool   `json:"private,omitempty"`
}

// Integration groups webhooks calling one service.
type Integration struct {
	ID                 string
	ProjectID          string
	Name               string
	BaseURL            string
	RateLimitPerSecond int
	Headers            []Header
	// Auth authenticates the integration's webhooks to its origin; nil means none.
	Auth       *IntegrationAuth
	CreateTime time.Time
	UpdateTime time.Time
	// Version counts the updates of the record: Update* write over the version read (ErrStale when it moved).
	Version int64
	// SecretsUnreadable is set on a listed integration whose private header values could not be decrypted (they
	// read as secret.Masked; GetIntegration returns ErrSecretUnreadable instead).
	SecretsUnreadable bool
}

// AuthKind names an integration's authentication method.
type AuthKind string

// Authentication methods of integrations.
const (
	// AuthBasic is HTTP Basic authentication (Username, Password).
	AuthBasic AuthKind = "basic"
	// AuthOAuth2ClientCredentials is an OAuth2 client-credentials bearer token (TokenURL, ClientID, ClientSecret,
	// Scopes, Audience).
	AuthOAuth2ClientCredentials AuthKind = "oauth2_client_credentials"
	// AuthTLSClient is a TLS client certificate (CertificatePEM, PrivateKeyPEM).
	AuthTLSClient AuthKind = "tls_client"
)

// IntegrationAuth is how the sender authenticates to an integration; only the fields of its Kind are set.
// Password, ClientSecret and PrivateKeyPEM are secrets (encrypted at rest, masked for non-ADMIN keys).
type IntegrationAuth struct {
	Kind           AuthKind `json:"kind"`
	Username       string   `json:"username,omitempty"`
	Password       string   `json:"password,omitempty"`
	TokenURL       string   `json:"token_url,omitempty"`
	ClientID       string   `json:"client_id,omitempty"`
	ClientSecret   string   `json:"client_secret,omitempty"`
	Scopes         []string `json:"scopes,omitempty"`
	Audience       string   `json:"audience,omitempty"`
	CertificatePEM string   `json:"certificate_pem,omitempty"`
	PrivateKeyPEM  string   `json:"private_key_pem,omitempty"`
}

// Secrets returns pointers to the secret fields of a (of every kind; unset ones are empty).
func (a *IntegrationAuth) Secrets() []*string {
	return []*string{&a.Password, &a.ClientSecret, &a.PrivateKeyPEM}
}

// IntegrationHeader toggles an inherited integration header.
type IntegrationHeader struct {
	Name string `json:"name"`
	Use  bool   `json:"use"`
}

// RetryKind names a retry policy.
type RetryKind string

// Retry policy kinds.
const (
	RetryExponential RetryKind = "exponential"
	RetryFixed       RetryKind = "fixed"
	RetryNone        RetryKind = "none"

	// RetryIdempotent retries only webhooks that send `{{.TransactionalId}}`, only after 5xx and 429 (product
	// document 001).
	RetryIdempotent RetryKind = "idempotent"
)

// SigningAlgorithm is how a webhook's requests are signed.
type SigningAlgorithm string

// Signing algorithms (Standard Webhooks).
const (
	// SigningHMACSHA256 signs `v1,` with the whsec_ secret (the default; also the meaning of "").
	SigningHMACSHA256 SigningAlgorithm = "hmac_sha256"
	// SigningEd25519 signs `v1a,` with the whsk_ private key kept in Secret.
	SigningEd25519 SigningAlgorithm = "ed25519"
)

// Transport is how a webhook's requests reach the receiver.
type Transport string

const (
	// TransportHTTP dials the webhook's URL (the default).
	TransportHTTP Transport = ""
	// TransportListen hands each request to a connected `hookd listen` client, which reports the response.
	TransportListen Transport = "listen"
)

// SignatureStyle is what a webhook's signature header holds.
type SignatureStyle string

// Signature styles.
const (
	// SignatureStandardWebhooks is `v1,<base64 HMAC-SHA256>` (or `v1a,` ed25519) of "id.timestamp.body" (the
	// default; also the meaning of "").
	SignatureStandardWebhooks SignatureStyle = ""
	// SignatureHexBody is `sha256=<hex HMAC-SHA256 of the body>`, as GitHub sends it (X-Hub-Signature-256).
	SignatureHexBody SignatureStyle = "hex_body"
)

// MaxSubjectLen is the longest subject (in bytes) an event may carry.
const MaxSubjectLen = 256

// MaxOrderingKeyLen is the longest event ordering key, in characters.
const MaxOrderingKeyLen = 256

// DefaultMaxPayloadBytes is the default limit of one event payload (its JSON), published through the API or
// by a trigger (`hookd serve --max-payload-bytes`); test sends and previews take payloads up to it too.
const DefaultMaxPayloadBytes = 256 << 10

// HTTPMethods are the HTTP methods a webhook may send (Webhook.Method) and a trigger URL accepts.
var HTTPMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// DefaultHTTPMethod is a webhook's method when none is given.
const DefaultHTTPMethod = "POST"

// RetryPolicy says when failed attempts are retried.
type RetryPolicy struct {
	Kind       RetryKind     `json:"kind"`
	Interval   time.Duration `json:"interval,omitempty"`
	MaxRetries int           `json:"max_retries,omitempty"`
}

// Webhook is an outgoing request template.
type Webhook struct {
	ID                       string
	ProjectID                string
	IntegrationID            string
	Name                     string
	SystemName               string
	Description              string
	Method                   string
	URL                      string
	Path                     string
	IntegrationHeaders       []IntegrationHeader
	Headers                  []Header
	BodyTemplate             string
	RetryPolicy              RetryPolicy
	Timeout                  time.Duration
	AsyncStatus              bool
	AsyncTimeout             time.Duration
	Enabled                  bool
	Secret                   string
	PreviousSecret           string
	PreviousSecretExpireTime *time.Time
	CreateTime               time.Time
	UpdateTime               time.Time

	// SuccessStatusCodes are the statuses that count as success; empty means any 2xx.
	SuccessStatusCodes []int
	// SigningAlgorithm says how Secret signs: "" or SigningHMACSHA256 (a whsec_ secret), or SigningEd25519
	// (Secret and PreviousSecret may then hold whsk_ private keys).
	SigningAlgorithm SigningAlgorithm
	// PublicKey and PreviousPublicKey are the whpk_ keys of Secret and PreviousSecret (empty for HMAC secrets).
	PublicKey         string
	PreviousPublicKey string
	// SignatureHeader, IDHeader and TimestampHeader rename the Standard Webhooks headers webhook-signature,
	// webhook-id and webhook-timestamp ("" = those names); SignatureStyle is what the signature header holds.
	SignatureHeader string
	IDHeader        string
	TimestampHeader string
	SignatureStyle  SignatureStyle
	// Transport is how requests reach the receiver: TransportHTTP dials the URL, TransportListen hands them to
	// connected `hookd listen` clients.
	Transport Transport
	// NoTraceparent turns off the W3C traceparent and tracestate headers of attempts (the API's
	// send_traceparent, default true, is its negation, so that the zero Webhook sends them).
	NoTraceparent bool
	// FailureThreshold disables the webhook after this many consecutive FAILED deliveries (0: never).
	FailureThreshold int
	// Health, kept by the delivery engine (read-only for UpdateWebhook): consecutive FAILED deliveries since the
	// last DONE one, the highest failing warning sent in this streak (0, 50, 70, 90 %), why and when the webhook
	// was disabled (a health.DisableReason), its last success and failure.
	ConsecutiveFailures int
	WarnedPercent       int
	DisabledReason      string
	DisableTime         *time.Time
	LastSuccessTime     *time.Time
	LastFailureTime     *time.Time
	// PrivateOrigin is the origin (scheme://host:port) the private values of Headers were saved for; they are
	// sent only to it (empty: nowhere).
	PrivateOrigin string
	// Version counts the updates of the record: Update* write over the version read (ErrStale when it moved).
	Version int64
	// TenantID is the tenant that owns the webhook ("": the project's own).
	TenantID string
	// Ordered makes the deliveries of events with the same non-empty OrderingKey go one at a time, in publish
	// order: each waits until the one before it is DONE, FAILED or CANCELLED.
	Ordered bool
	// SecretsUnreadable is set on a listed webhook whose secrets could not be decrypted: Secret and PreviousSecret
	// are empty and private header values are secret.Masked (GetWebhook returns ErrSecretUnreadable instead).
	SecretsUnreadable bool
}

// LatencyBounds are the upper bounds of the attempt-duration histogram of WebhookStats (a last bucket takes
// longer attempts).
var LatencyBounds = []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
	2500 * time.Millisecond, 5 * time.Second, 10 * time.Second, 15 * time.Second}

// LatencyBucket is the histogram bucket of an attempt duration.
func LatencyBucket(d time.Duration) int {
	for i, b := range LatencyBounds {
		if d <= b {
			return i
		}
	}
	return len(LatencyBounds)
}

// WebhookStats summarizes a webhook's deliveries over a window ending now (see GetWebhookStats).
type WebhookStats struct {
	Window                            time.Duration
	Done, Failed, Cancelled, Attempts int64
	// FailedAttempts counts the window's attempts that failed (anything but DONE or an async 202).
	FailedAttempts            int64
	Queued, Retrying, Waiting int64
	Latency                   []int64 // attempts per LatencyBounds bucket
	// LastFailureTime is when an attempt last failed (a delivery still retrying included).
	LastSuccessTime, LastFailureTime *time.Time
	// ConsecutiveFailures counts FAILED deliveries since the last DONE one (what failure_threshold reads);
	// ConsecutiveFailedAttempts counts failed attempts since the last successful one.
	ConsecutiveFailures       int
	ConsecutiveFailedAttempts int
}

// EventType names a kind of event; Schema and SamplePayload are JSON (nil when unset).
type EventType struct {
	ID            string
	ProjectID     string
	Name          string
	Description   string
	Schema        json.RawMessage
	SamplePayload json.RawMessage
	CreateTime    time.Time
	UpdateTime    time.Time
	// Version counts the updates of the record: Update* write over the version read (ErrStale when it moved).
	Version int64
}

// Subscription sends events of EventTypes ("*" = all) to a webhook.
type Subscription struct {
	ID            string
	ProjectID     string
	WebhookID     string
	EventTypes    []string
	SubjectFilter string
	// Filter is a CEL expression over type, subject, tenant_id and data (package filter); empty matches all.
	Filter     string
	Enabled    bool
	CreateTime time.Time
	UpdateTime time.Time
	// Version counts the updates of the record: Update* write over the version read (ErrStale when it moved).
	Version int64
}

// SubscriptionFilter narrows ListSubscriptions.
type SubscriptionFilter struct {
	WebhookID string
	EventType string
	// TenantID keeps the subscriptions of this tenant's webhooks.
	TenantID string
}

// Status is where a delivery stands.
type Status string

// Delivery statuses.
const (
	StatusQueued    Status = "queued"
	StatusRetrying  Status = "retrying"
	StatusWaiting   Status = "waiting"
	StatusDone      Status = "done"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// DeliveryCounts counts an event's deliveries by status.
type DeliveryCounts map[Status]int

// Event is a published event; Payload is a JSON object.
type Event struct {
	ID             string
	ProjectID      string
	EventType      string
	Subject        string
	Payload        json.RawMessage
	IdempotencyKey string
	// OrderingKey orders the event's deliveries to ordered webhooks after those of earlier events with the same
	// key (not stored with the event: its deliveries carry it).
	OrderingKey string
	CreateTime  time.Time
	// Counts is filled by GetEvent and ListEvents.
	Counts DeliveryCounts
	// Trace is the trace context of the publish (set by the publisher; empty when it was not traced): the
	// attempts of the event's deliveries join that trace.
	Trace TraceContext
	// PayloadExpired is set when the payload was dropped after the project's payload retention (Payload is {}).
	PayloadExpired bool
	// TenantID is the tenant the event is for ("": none): it reaches that tenant's webhooks and the project's own.
	TenantID string
}

// TraceContext is a W3C trace context: the traceparent and tracestate header values of a span.
type TraceContext struct {
	Parent string
	State  string
}

// IdempotencyWindow is how long an idempotency key returns the first publish's result.
const IdempotencyWindow = 24 * time.Hour

// PublishInput is one event to publish. The caller has validated the payload.
type PublishInput struct {
	Event Event
	// WebhookIDs, when set, replaces subscription matching.
	WebhookIDs []string
}

// PublishResult is the stored event and its deliveries (the first result for a reused idempotency key).
type PublishResult struct {
	Event       Event
	DeliveryIDs []string
	// Duplicate is true when the idempotency key was already used; nothing new was stored.
	Duplicate bool
}

// EventFilter narrows ListEvents.
type EventFilter struct {
	EventType    string
	Subject      string
	TenantID     string
	CreateAfter  time.Time
	CreateBefore time.Time
}

// Delivery is one event sent to one webhook.
type Delivery struct {
	ID            string
	ProjectID     string
	EventID       string
	WebhookID     string
	IntegrationID string
	EventType     string
	Subject       string
	Status        Status
	Attempts      int
	// NextAttemptTime is when the next attempt is due (QUEUED, RETRYING) or when WAITING ends; zero once final.
	NextAttemptTime time.Time
	LastStatusCode  int
	Reason          string
	Resent          bool
	// Resends counts manual resends; each one gets a new action-status token.
	Resends    int
	CreateTime time.Time
	UpdateTime time.Time
	// TenantID is the tenant of the delivery's webhook ("": the project's own).
	TenantID string
	// OrderingKey is the ordering key of the delivery's event ("" = none).
	OrderingKey string
	// BlockedBy is the delivery of the same ordering key this one waits for (held in the queue until it is
	// final); empty when not held.
	BlockedBy string
}

// DeliveryFilter narrows delivery lists, bulk retries and exports.
type DeliveryFilter struct {
	Statuses      []Status
	WebhookID     string
	IntegrationID string
	EventType     string
	Subject       string
	EventID       string
	CreateAfter   time.Time
	CreateBefore  time.Time
	// TenantID keeps the deliveries to this tenant's webhooks.
	TenantID string
}

// Matches reports whether delivery d passes the filter (as ListDeliveries would select it).
func (f DeliveryFilter) Matches(d *Delivery) bool {
	switch {
	case len(f.Statuses) > 0 && !slices.Contains(f.Statuses, d.Status),
		f.WebhookID != "" && d.WebhookID != f.WebhookID,
		f.IntegrationID != "" && d.IntegrationID != f.IntegrationID,
		f.EventType != "" && d.EventType != f.EventType,
		f.Subject != "" && d.Subject != f.Subject,
		f.EventID != "" && d.EventID != f.EventID,
		f.TenantID != "" && d.TenantID != f.TenantID,
		!f.CreateAfter.IsZero() && d.CreateTime.Before(f.CreateAfter),
		!f.CreateBefore.IsZero() && !d.CreateTime.Before(f.CreateBefore):
		return false
	}
	return true
}

// ChangeKind says what happened to a delivery (WatchDeliveries).
type ChangeKind int

// Kinds of delivery changes.
const (
	// ChangeCreated is a new delivery (an event was published).
	ChangeCreated ChangeKind = iota + 1
	// ChangeAttempted is an attempt made.
	ChangeAttempted
	// ChangeStatus is a status change without an attempt (callback, cancel, resend, expiry).
	ChangeStatus
)

// DeliveryChange is one change of a delivery: the delivery as read after it, and when it happened.
type DeliveryChange struct {
	Kind     ChangeKind
	Delivery Delivery
	Time     time.Time
}

// IsEmpty reports whether the filter matches everything.
func (f DeliveryFilter) IsEmpty() bool {
	return len(f.Statuses) == 0 && f.WebhookID == "" && f.IntegrationID == "" && f.EventType == "" && f.Subject == "" &&
		f.EventID == "" && f.TenantID == "" && f.CreateAfter.IsZero() && f.CreateBefore.IsZero()
}

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	DeliveryID         string
	Number             int
	StartTime          time.Time
	Duration           time.Duration
	RequestMethod      string
	RequestURL         string
	RequestHeaders     []Header
	RequestBody        string
	ResponseStatusCode int
	ResponseHeaders    []Header
	ResponseBody       string
	Error              string
	// PayloadExpired is set when the request and response bodies were dropped after the project's payload
	// retention.
	PayloadExpired bool
	// PayloadAt and PayloadLen, when PayloadLen > 0, say that RequestBody[PayloadAt:PayloadAt+PayloadLen] is the
	// event's payload as stored (the default envelope's data): the store then keeps the body without it and puts
	// the event's payload back when it reads the attempt, instead of a second copy. Set by the sender; zero in
	// attempts read back (their RequestBody is whole).
	PayloadAt, PayloadLen int
}

// ClaimedDelivery is a leased delivery with what the sender needs to send it.
type ClaimedDelivery struct {
	Delivery
	EventPayload    json.RawMessage
	EventCreateTime time.Time
	// EventTrace is the trace context of the event's publish (empty when it was not traced).
	EventTrace TraceContext
	// ClaimToken must accompany the completion; a stale token's completion is ignored.
	ClaimToken string
	// LeaseEnd is when the claim expires and the delivery is due again if no completion came.
	LeaseEnd time.Time
}

// ClaimRequest says how much due work one claim may lease.
type ClaimRequest struct {
	// Limit caps the deliveries leased.
	Limit int
	// Lease is how long the claimed deliveries are reserved.
	Lease time.Duration
	// PerWebhook caps the deliveries of one webhook in flight in the claiming process.
	PerWebhook int
	// InFlight counts the claiming process's deliveries in flight by webhook id; a webhook gets at most
	// PerWebhook - InFlight[id] more.
	InFlight map[string]int
	// Cursor continues a lane scan that the previous claim cut short (ClaimResult.Cursor); empty starts over.
	Cursor string
}

// ClaimResult is what one claim leased and what it learned about the rest of the queue.
type ClaimResult struct {
	Deliveries []ClaimedDelivery
	// NextDue is the earliest due time after now of the deliveries not claimed (zero when none is scheduled).
	NextDue time.Time
	// More reports due deliveries left behind by the claim's limit, a webhook's fair share of it or a cut-short
	// lane scan: claim again when there is room.
	More bool
	// Capped reports due deliveries held back by the per-webhook cap: claim again when one of the claiming
	// process's deliveries of that webhook finishes.
	Capped bool
	// Cursor continues a lane scan that was cut short; empty when the scan visited every webhook.
	Cursor string
}

// Outcome is the sender's verdict on a claimed delivery after an attempt.
type Outcome struct {
	DeliveryID string
	ClaimToken string
	// Attempt is stored when not nil (nil for a delay that made no request, e.g. a rate limit).
	Attempt *Attempt
	// Attempts is the delivery's number of attempts after this outcome.
	Attempts int
	// Status is the new status: done, failed, retrying (or queued for a delay), waiting.
	Status Status
	// NextAttemptTime is when the delivery is due again (retrying/queued) or when WAITING times out.
	NextAttemptTime time.Time
	LastStatusCode  int
	Reason          string
	// DisableWebhook disables the webhook (a 410 Gone answer).
	DisableWebhook bool
	// WebhookID is the delivery's webhook (for DisableWebhook).
	WebhookID string
}

// IsFinal reports whether a delivery status is terminal.
func IsFinal(st Status) bool {
	return st == StatusDone || st == StatusFailed || st == StatusCancelled
}

// Trigger receives inbound webhooks; structured config is kept as JSON by the store.
type Trigger struct {
	ID           string
	ProjectID    string
	Name         string
	EventType    string
	APIKeyHeader string
	// APIKey is the key callers send in APIKeyHeader. The store keeps only its SHA-256 hash: what it returns is
	// that hash (see secret.KeyMatches), the plaintext is known only to the caller that set it.
	APIKey             string
	ResponseStatus     int
	ResponseType       string
	ResponseBody       string
	Sync               bool
	SyncTimeout        time.Duration
	RateLimitPerSecond int
	Routes             []TriggerRoute
	Signature          TriggerSignature
	MaxBodyBytes       int64
	Enabled            bool
	CreateTime         time.Time
	UpdateTime         time.Time
	// Version counts the updates of the record: Update* write over the version read (ErrStale when it moved).
	Version int64

	// Subject picks the subject of published events (a matching route's Subject wins).
	Subject TriggerSubject
	// DropHeaders and DropQueryParameters are left out of the published payload (besides the credential headers,
	// which always are).
	DropHeaders         []string
	DropQueryParameters []string
	// SecretsUnreadable is set on a listed trigger whose signature secret could not be decrypted (it is empty;
	// GetTrigger returns ErrSecretUnreadable instead).
	SecretsUnreadable bool
}

// TriggerRoute picks an event type by a header value or a JSON field.
type TriggerRoute struct {
	Header    string `json:"header,omitempty"`
	JSONField string `json:"json_field,omitempty"`
	Value     string `json:"value"`
	EventType string `json:"event_type"`

	// Subject, when set, picks the subject of matching requests instead of the trigger's.
	Subject *TriggerSubject `json:"subject,omitempty"`
}

// TriggerSubject picks an event subject from a request header or a JSON field path (at most one is set).
type TriggerSubject struct {
	Header    string `json:"header,omitempty"`
	JSONField string `json:"json_field,omitempty"`
}

// IsZero reports whether no subject is picked.
func (s TriggerSubject) IsZero() bool { return s.Header == "" && s.JSONField == "" }

// HasCustomResponse reports whether the trigger replaces the default answer to accepted requests.
func (t *Trigger) HasCustomResponse() bool {
	return t.ResponseStatus != 0 || t.ResponseType != "" || t.ResponseBody != ""
}

// Signature schemes of a trigger (TriggerSignature.Scheme; "" = no verification).
const (
	// TriggerSchemeStandardWebhooks verifies Standard Webhooks signatures (webhook-id, -timestamp, -signature).
	TriggerSchemeStandardWebhooks = "standard_webhooks"
	// TriggerSchemeHMACSHA256 verifies an HMAC-SHA256 of the body, hex, in a named header after a prefix.
	TriggerSchemeHMACSHA256 = "hmac_sha256"
	// TriggerSchemeHMACSHA256Timestamped verifies `t=<unix seconds>,v1=<hex HMAC-SHA256>` in a named header: the
	// HMAC of "<t>.<body>" (or of "<t>.<METHOD>\n<target>\n<body>" with SignTarget), t within the tolerance,
	// each signature accepted once.
	TriggerSchemeHMACSHA256Timestamped = "hmac_sha256_timestamped"
)

// TriggerSignature configures verification of received requests ("" scheme = none).
type TriggerSignature struct {
	Scheme string `json:"scheme,omitempty"`
	Secret string `json:"secret,omitempty"`
	Header string `json:"header,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	// Tolerance is how far a signed timestamp may be from now (STANDARD_WEBHOOKS and HMAC_SHA256_TIMESTAMPED;
	// 0 = DefaultSignatureTolerance).
	Tolerance time.Duration `json:"tolerance_ns,omitempty"`
	// SignTarget makes an HMAC_SHA256_TIMESTAMPED signature cover the method and the request target (the path
	// after /t/<id> and the query) besides the timestamp and the body.
	SignTarget bool `json:"sign_target,omitempty"`
}

// Bounds of TriggerSignature.Tolerance.
const (
	// DefaultSignatureTolerance is the tolerance of triggers that set none.
	DefaultSignatureTolerance = 5 * time.Minute
	// MaxSignatureTolerance is the largest tolerance a trigger may set.
	MaxSignatureTolerance = time.Hour
)

// Execution is one request received by a trigger.
type Execution struct {
	ID              string
	ProjectID       string
	TriggerID       string
	ReceiveTime     time.Time
	Method          string
	Headers         []Header
	QueryParameters []Header
	PathFragment    string
	RawBody         string
	RawBodyBase64   bool
	// BodyTruncated is true when RawBody is a prefix of what was received (rejected requests keep no more).
	BodyTruncated bool
	Body          json.RawMessage
	ContentType   string
	Status        int
	EventID       string
	EventType     string

	// Subject is the subject the event was published with.
	Subject string
	// PayloadExpired is set when the received body was dropped after the project's payload retention.
	PayloadExpired bool
}

// ExecutionRecord is one execution to store; its event is published when Publish is not nil.
type ExecutionRecord struct {
	Execution *Execution
	Publish   *PublishInput
}

// MaxBulkRetry is the most deliveries one RetryDeliveries call resends; callers repeat it for more.
const MaxBulkRetry = 10_000

// MaxReplay is the most missed deliveries one enabling of a webhook with replay re-queues (oldest first); the newer
// ones stay FAILED with reason "webhook disabled", for RetryDeliveries.
const MaxReplay = MaxBulkRetry

// Store is what hookd persists and the API reads: configuration, events and the logs. Methods taking projectID
// never see other projects' records. The delivery queue (Queue), its wake-ups (Listener), the shared rate
// windows (RateWindows) and the delivery watches (DeliveryFeed) are interfaces of their own.
type Store interface {
	// Ping checks the database is reachable.
	Ping(ctx context.Context) error

	CreateProject(ctx context.Context, p *Project) error
	GetProject(ctx context.Context, id string) (*Project, error)
	ListProjects(ctx context.Context, page Page) ([]Project, error)

	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKeyByHash finds a key by the SHA-256 hash of its secret.
	APIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	ListAPIKeys(ctx context.Context, projectID string, page Page) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, projectID, id string, now time.Time) (*APIKey, error)
	// GetAPIKey returns a key of the project (revoked ones too).
	GetAPIKey(ctx context.Context, projectID, id string) (*APIKey, error)
	// CountAPIKeys counts all keys of the instance (to detect a first start).
	CountAPIKeys(ctx context.Context) (int, error)

	CreateIntegration(ctx context.Context, in *Integration) error
	GetIntegration(ctx context.Context, projectID, id string) (*Integration, error)
	ListIntegrations(ctx context.Context, projectID string, page Page) ([]Integration, error)
	// UpdateIntegration, like every Update*, writes the record over the version it was read at (in.Version):
	// ErrStale when the record changed since, so that concurrent updates never undo one another; on success
	// in.Version is the new version.
	UpdateIntegration(ctx context.Context, in *Integration) error
	// DeleteIntegration returns ErrConflict while webhooks belong to it.
	DeleteIntegration(ctx context.Context, projectID, id string) error

	CreateWebhook(ctx context.Context, w *Webhook) error
	GetWebhook(ctx context.Context, projectID, id string) (*Webhook, error)
	ListWebhooks(ctx context.Context, projectID, integrationID string, page Page) ([]Webhook, error)
	// FilterWebhooks lists the project's webhooks passing f, newest first.
	FilterWebhooks(ctx context.Context, projectID string, f WebhookFilter, page Page) ([]Webhook, error)
	UpdateWebhook(ctx context.Context, w *Webhook) error
	// RebindWebhookPrivateOrigin moves the private header values of the integration's webhooks that call its
	// base_url (no url of their own) and are bound to origin from to origin to (after an ADMIN moved the
	// base_url); returns how many.
	RebindWebhookPrivateOrigin(ctx context.Context, p RebindPrivateOriginParams) (int, error)
	// DeleteWebhook deletes the webhook and its subscriptions and cancels its unfinished deliveries.
	DeleteWebhook(ctx context.Context, projectID, id string, now time.Time) error
	// SetWebhookEnabled enables or disables a webhook (with reason) and publishes hookd.webhook.enabled or
	// .disabled; enabling with replay re-queues, oldest first, the deliveries that FAILED with reason "webhook
	// disabled" while it was disabled (at most MaxReplay, in bounded transactions after the one that enables it),
	// and returns how many. A webhook already in that state is left as it is.
	SetWebhookEnabled(ctx context.Context, p SetWebhookEnabledParams) (*Webhook, int, error)
	// GetWebhookStats counts a webhook's outcomes over the window ending now (whole minutes up to 3 h, whole hours
	// beyond) and its deliveries unfinished now.
	GetWebhookStats(ctx context.Context, p WebhookStatsParams) (*WebhookStats, error)
	// WebhookNames returns the current names of the project's webhooks among ids, by id (unknown ids are
	// left out): one query for a page of deliveries.
	WebhookNames(ctx context.Context, projectID string, ids []string) (map[string]string, error)
	// IntegrationNames returns the current names of the project's integrations among ids, by id.
	IntegrationNames(ctx context.Context, projectID string, ids []string) (map[string]string, error)

	CreateEventType(ctx context.Context, et *EventType) error
	GetEventType(ctx context.Context, projectID, id string) (*EventType, error)
	GetEventTypeByName(ctx context.Context, projectID, name string) (*EventType, error)
	ListEventTypes(ctx context.Context, projectID string, page Page) ([]EventType, error)
	UpdateEventType(ctx context.Context, et *EventType) error
	// DeleteEventType returns ErrConflict while a subscription names it.
	DeleteEventType(ctx context.Context, projectID, id string) error

	// CreateSubscription returns ErrNotFound when the webhook or a named event type does not exist.
	CreateSubscription(ctx context.Context, s *Subscription) error
	GetSubscription(ctx context.Context, projectID, id string) (*Subscription, error)
	ListSubscriptions(ctx context.Context, projectID string, f SubscriptionFilter, page Page) ([]Subscription, error)
	UpdateSubscription(ctx context.Context, s *Subscription) error
	DeleteSubscription(ctx context.Context, projectID, id string) error

	// PublishEvents stores events and their QUEUED deliveries (due now) in one transaction and wakes senders.
	// An idempotency key used in the project within IdempotencyWindow returns the first result.
	PublishEvents(ctx context.Context, p PublishEventsParams) ([]PublishResult, error)
	GetEvent(ctx context.Context, projectID, id string) (*Event, error)
	ListEvents(ctx context.Context, projectID string, f EventFilter, page Page) ([]Event, error)

	GetDelivery(ctx context.Context, projectID, id string) (*Delivery, error)
	// ListAttempts returns the attempts of a delivery of the project, oldest first.
	ListAttempts(ctx context.Context, projectID, deliveryID string) ([]Attempt, error)
	// ListDeliveries lists newest first by id; with Queue it lists QUEUED/RETRYING/WAITING by next attempt time
	// (the page cursor is then "<unix nanos>/<id>").
	ListDeliveries(ctx context.Context, p ListDeliveriesParams) ([]Delivery, error)
	// RetryDelivery makes a DONE or FAILED delivery due now (RETRYING, resent); ErrConflict otherwise.
	RetryDelivery(ctx context.Context, projectID, id string, now time.Time) (*Delivery, error)
	// RetryDeliveries resends the DONE or FAILED deliveries matching f, in chunks and at most MaxBulkRetry per
	// call; returns how many.
	RetryDeliveries(ctx context.Context, projectID string, f DeliveryFilter, now time.Time) (int, error)
	// CancelDelivery cancels a QUEUED, RETRYING or WAITING delivery; ErrConflict otherwise.
	CancelDelivery(ctx context.Context, projectID, id string, now time.Time) (*Delivery, error)
	// UpdateActionStatus finishes the WAITING (or in-flight) delivery with an action-status callback's verdict;
	// ErrNotFound when the delivery does not exist or already finished.
	UpdateActionStatus(ctx context.Context, p UpdateActionStatusParams) (*Delivery, error)
	// DeliveryByLegacyToken finds the delivery of an action-status token handed out before tokens were derived
	// (by its SHA-256 hash); ErrNotFound when unknown.
	DeliveryByLegacyToken(ctx context.Context, hash []byte) (*Delivery, error)

	CreateTrigger(ctx context.Context, t *Trigger) error
	GetTrigger(ctx context.Context, projectID, id string) (*Trigger, error)
	// TriggerByID finds a trigger of any project (for the public endpoint).
	TriggerByID(ctx context.Context, id string) (*Trigger, error)
	ListTriggers(ctx context.Context, projectID string, page Page) ([]Trigger, error)
	UpdateTrigger(ctx context.Context, t *Trigger) error
	DeleteTrigger(ctx context.Context, projectID, id string) error
	// RecordExecution stores an execution and, when publish is not nil, publishes its event in the same transaction.
	RecordExecution(ctx context.Context, e *Execution, publish *PublishInput, now time.Time) (*PublishResult, error)
	// RecordExecutions stores executions and publishes the events of those with a publish input, in one transaction.
	// Results are in input order (nil for a record without publish); ErrNotFound when a trigger does not exist.
	RecordExecutions(ctx context.Context, in []ExecutionRecord, now time.Time) ([]*PublishResult, error)
	GetExecution(ctx context.Context, projectID, id string) (*Execution, error)
	// ExecutionByID finds an execution of any project (for the public sync result URL).
	ExecutionByID(ctx context.Context, id string) (*Execution, error)
	// ListExecutions lists executions without their bodies (RawBody and Body are empty; GetExecution has them).
	ListExecutions(ctx context.Context, projectID, triggerID string, page Page) ([]Execution, error)
	// RememberTriggerSignature records that the trigger accepted the signature whose digest is given, until
	// Expire; false when the same digest was recorded before and has not expired (a replay).
	RememberTriggerSignature(ctx context.Context, p RememberTriggerSignatureParams) (bool, error)

	// CountObjects counts a project's objects of a kind, for quotas.
	CountObjects(ctx context.Context, projectID string, kind ObjectKind) (int, error)
	// Lifecycle: project retention settings and subject erasure.
	Lifecycle
	// PortalSessions: the tenants' portal sessions.
	PortalSessions
}

// ObjectKind names what a quota counts.
type ObjectKind string

// Object kinds with quotas.
const (
	KindIntegration  ObjectKind = "integrations"
	KindWebhook      ObjectKind = "webhooks"
	KindTrigger      ObjectKind = "triggers"
	KindEventType    ObjectKind = "event_types"
	KindSubscription ObjectKind = "subscriptions"
)

// Queue is the delivery queue: what the sender claims, leases and completes. Every process of a cluster shares
// it; a claim's rows are not claimed by anyone else until they are completed or their lease ends.
type Queue interface {
	// ClaimDeliveries leases due deliveries (QUEUED, RETRYING, and WAITING ones whose wait ended) until
	// now+Lease, visiting webhooks in turn so that none of them crowds out the others.
	ClaimDeliveries(ctx context.Context, now time.Time, req ClaimRequest) (ClaimResult, error)
	// CompleteDeliveries stores outcomes in one transaction; outcomes with a stale claim token are skipped.
	CompleteDeliveries(ctx context.Context, outcomes []Outcome, now time.Time) error
	// QueueDepth counts unfinished deliveries (QUEUED, RETRYING and WAITING) of all projects.
	QueueDepth(ctx context.Context) (int, error)
}

// Handoff takes the deliveries a publish queues straight into a sender of the same process, already claimed: the
// publish leases their queue rows to that sender in its own transaction and hands them over once it committed, which
// saves the sender a claim and the publish a wake-up (storesql's Queue.SetHandoff; the sender implements it).
type Handoff interface {
	// Reserve asks for room for want[webhook id] deliveries; it returns the room granted by webhook (none: nil) and
	// the lease of the claims. Every reservation that granted room is ended by exactly one Hand.
	Reserve(want map[string]int) (granted map[string]int, lease time.Duration)
	// Hand ends a reservation: claimed are its deliveries, leased, once the publish committed; empty when it did not
	// commit (the room is given back).
	Hand(granted map[string]int, claimed []ClaimedDelivery)
}

// Wakeup tells a sender that deliveries are due at Due (now or later), from any process of the cluster.
type Wakeup struct {
	Due time.Time
}

// DeliveryFeed streams delivery changes to watchers.
type DeliveryFeed interface {
	// WatchDeliveries streams the changes of the project's deliveries committed by any process from now on. The
	// channel holds up to buffer changes; a reader that lets it fill is dropped (the channel is closed and the
	// returned function reports ErrFellBehind), so that a slow watcher never delays delivery. The watch ends, and
	// the channel is closed, when ctx ends.
	WatchDeliveries(ctx context.Context, projectID string, buffer int) (<-chan DeliveryChange, func() error, error)
}

// Listener delivers wake-ups: new or rescheduled work committed by any process. Its owner starts and stops what
// listens (storesql's Notifier, shared by the process's services); subscribing does not depend on it.
type Listener interface {
	// Subscribe returns a channel of wake-ups (buffered; a slow reader loses only wake-ups later than the ones
	// it keeps) and a function that ends the subscription.
	Subscribe() (<-chan Wakeup, func())
}

// RateWindows are rate limits shared by every process of a cluster: at most Rate admissions of a key in any
// rolling second.
type RateWindows interface {
	// TakeRate takes up to N admissions of Key at once and returns how many it got (0: none left, and when the next
	// one can be had); they count in the window from Now + Hold (the latest time the taker may spend them).
	TakeRate(ctx context.Context, p TakeRateParams) (int, time.Time, error)
}
