package api

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/pagination"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/trigger"
)

// Validation limits of triggers (the endpoint's own limits and defaults are in package trigger).
const (
	maxRoutes           = 100
	maxResponseBodySize = 64 << 10
	maxSecretLen        = 1024
	maxDropped          = 50
	maxPathLen          = 200
)

// TriggerConfig is what TriggerService shares with the public trigger endpoint (trigger.Config); zero fields take
// the defaults the endpoint takes.
type TriggerConfig struct {
	// MaxBodyBytes is the body limit of triggers that set none, shown as their max_body_bytes (default
	// trigger.DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// DefaultRateLimit is the rate of triggers created without one (default trigger.DefaultRateLimit).
	DefaultRateLimit int
}

// NewTriggerService returns the TriggerService handler (triggers and their executions; the public endpoint that
// receives the calls is trigger.NewHandler). Trigger URLs are d.PublicURL + "/t/<id>".
func NewTriggerService(d Deps, cfg TriggerConfig) hookdv1connect.TriggerServiceHandler {
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, trigger.DefaultMaxBodyBytes)
	cfg.DefaultRateLimit = cmp.Or(cfg.DefaultRateLimit, trigger.DefaultRateLimit)
	return &triggerService{d: d, cfg: cfg, publicURL: strings.TrimRight(d.PublicURL, "/")}
}

type triggerService struct {
	d         Deps
	cfg       TriggerConfig
	publicURL string
}

// CreateTrigger implements hookdv1connect.TriggerServiceHandler.
func (s *triggerService) CreateTrigger(ctx context.Context, req *connect.Request[hookdv1.CreateTriggerRequest]) (*connect.Response[hookdv1.CreateTriggerResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	t := &store.Trigger{
		ProjectID: p.ProjectID, Name: m.Name, EventType: m.EventType, APIKeyHeader: m.ApiKeyHeader, APIKey: m.ApiKey,
		Sync: m.Sync, RateLimitPerSecond: int(m.RateLimitPerSecond), MaxBodyBytes: m.MaxBodyBytes,
		Enabled: m.Enabled == nil || *m.Enabled, Routes: routesFromProto(m.Routes), Subject: subjectFromProto(m.Subject),
		DropHeaders: m.DropHeaders, DropQueryParameters: m.DropQueryParameters,
	}
	setResponse(t, m.Response)
	if err := setSyncTimeout(t, m.SyncTimeout); err != nil {
		return nil, err
	}
	if err := setSignature(t, m.Signature, ""); err != nil {
		return nil, err
	}
	if err := s.validate(ctx, t); err != nil {
		return nil, err
	}
	if err := s.d.Quotas.Check(ctx, s.d.Store, p.ProjectID, store.KindTrigger); err != nil {
		return nil, err
	}
	now := s.d.now()
	t.ID, t.CreateTime, t.UpdateTime = id.New(id.Trigger, now), now, now
	if err := s.d.Store.CreateTrigger(ctx, t); err != nil {
		return nil, apierr.About("trigger", t.ID, err)
	}
	return connect.NewResponse(&hookdv1.CreateTriggerResponse{Trigger: s.toProto(t, p.IsAdmin())}), nil
}

// GetTrigger implements hookdv1connect.TriggerServiceHandler.
func (s *triggerService) GetTrigger(ctx context.Context, req *connect.Request[hookdv1.GetTriggerRequest]) (*connect.Response[hookdv1.GetTriggerResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.get(ctx, p, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&hookdv1.GetTriggerResponse{Trigger: s.toProto(t, p.IsAdmin())}), nil
}

func (s *triggerService) get(ctx context.Context, p auth.Principal, triggerID string) (*store.Trigger, error) {
	if triggerID == "" {
		return nil, apierr.Invalid("id", "is required")
	}
	t, err := s.d.Store.GetTrigger(ctx, p.ProjectID, triggerID)
	return t, apierr.About("trigger", triggerID, err)
}

// ListTriggers implements hookdv1connect.TriggerServiceHandler.
func (s *triggerService) ListTriggers(ctx context.Context, req *connect.Request[hookdv1.ListTriggersRequest]) (*connect.Response[hookdv1.ListTriggersResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	page, err := pagination.Parse(req.Msg.PageSize, req.Msg.PageToken)
	if err != nil {
		return nil, err
	}
	ts, err := s.d.Store.ListTriggers(ctx, p.ProjectID, page)
	if err != nil {
		return nil, fmt.Errorf("list triggers: %w", err)
	}
	ts, next := pagination.Trim(ts, page, func(t store.Trigger) string { return t.ID })
	out := make([]*hookdv1.Trigger, len(ts))
	for i := range ts {
		out[i] = s.toProto(&ts[i], p.IsAdmin())
	}
	return connect.NewResponse(&hookdv1.ListTriggersResponse{Triggers: out, NextPageToken: next}), nil
}

// UpdateTrigger implements hookdv1connect.TriggerServiceHandler. The change is applied to the trigger as it is
// when written (updateFresh).
func (s *triggerService) UpdateTrigger(ctx context.Context, req *connect.Request[hookdv1.UpdateTriggerRequest]) (*connect.Response[hookdv1.UpdateTriggerResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	t, err := updated(ctx, func() (*store.Trigger, error) { return s.update(ctx, p, req.Msg) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&hookdv1.UpdateTriggerResponse{Trigger: s.toProto(t, p.IsAdmin())}), nil
}

// update reads the trigger, applies m and writes it over the version read.
func (s *triggerService) update(ctx context.Context, p auth.Principal, m *hookdv1.UpdateTriggerRequest) (*store.Trigger, error) {
	t, err := s.get(ctx, p, m.Id)
	if err != nil {
		return nil, err
	}
	if m.Name != nil {
		t.Name = *m.Name
	}
	if m.EventType != nil {
		t.EventType = *m.EventType
	}
	before := *t
	if m.ApiKeyHeader != nil {
		if t.APIKeyHeader == "" && *m.ApiKeyHeader != "" {
			t.APIKey = "" // a retired key is not brought back: a new one is generated unless api_key is given
		}
		// Clearing the header keeps the key's hash: requests that still carry the key get it redacted.
		t.APIKeyHeader = *m.ApiKeyHeader
	}
	if m.ApiKey != nil && *m.ApiKey != secret.Masked {
		t.APIKey = *m.ApiKey
	}
	if m.Response != nil {
		setResponse(t, m.Response)
	}
	if m.Sync != nil {
		t.Sync = *m.Sync
	}
	if m.SyncTimeout != nil {
		if err := setSyncTimeout(t, m.SyncTimeout); err != nil {
			return nil, err
		}
	}
	if m.RateLimitPerSecond != nil {
		t.RateLimitPerSecond = int(*m.RateLimitPerSecond)
	}
	if m.Routes != nil {
		t.Routes = routesFromProto(m.Routes.Values)
	}
	if m.Subject != nil {
		t.Subject = subjectFromProto(m.Subject) // an empty message removes it
	}
	if m.Signature != nil {
		if err := setSignature(t, m.Signature, t.Signature.Secret); err != nil {
			return nil, err
		}
	}
	if m.MaxBodyBytes != nil {
		t.MaxBodyBytes = *m.MaxBodyBytes
	}
	if m.Enabled != nil {
		t.Enabled = *m.Enabled
	}
	if m.DropHeaders != nil {
		t.DropHeaders = m.DropHeaders.GetValues()
	}
	if m.DropQueryParameters != nil {
		t.DropQueryParameters = m.DropQueryParameters.GetValues()
	}
	if !p.IsAdmin() {
		if err := credentialSettingsKept(&before, t); err != nil {
			return nil, err
		}
	}
	if err := s.validate(ctx, t); err != nil {
		return nil, err
	}
	t.UpdateTime = s.d.now()
	if err := s.d.Store.UpdateTrigger(ctx, t); err != nil {
		return nil, apierr.About("trigger", t.ID, err)
	}
	return t, nil
}

// credentialSettingsKept refuses, for a non-ADMIN caller, a change of the settings that decide which request
// values are credentials: with them a MEMBER could make callers' keys and signatures land in clear in
// executions and event payloads (clear or rename api_key_header, change the signature header, shorten
// drop_headers or drop_query_parameters). Echoing the stored values (masked secret included) is no change.
func credentialSettingsKept(before, after *store.Trigger) error {
	const why = "only an ADMIN key may change it (it decides which request values are kept private)"
	switch {
	case !strings.EqualFold(before.APIKeyHeader, after.APIKeyHeader):
		return apierr.PermissionDenied("api_key_header: " + why)
	case before.Signature != after.Signature:
		return apierr.PermissionDenied("signature: " + why)
	case !slices.Equal(before.DropHeaders, after.DropHeaders):
		return apierr.PermissionDenied("drop_headers: " + why)
	case !slices.Equal(before.DropQueryParameters, after.DropQueryParameters):
		return apierr.PermissionDenied("drop_query_parameters: " + why)
	}
	return nil
}

// DeleteTrigger implements hookdv1connect.TriggerServiceHandler.
func (s *triggerService) DeleteTrigger(ctx context.Context, req *connect.Request[hookdv1.DeleteTriggerRequest]) (*connect.Response[hookdv1.DeleteTriggerResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id == "" {
		return nil, apierr.Invalid("id", "is required")
	}
	if err := s.d.Store.DeleteTrigger(ctx, p.ProjectID, req.Msg.Id); err != nil {
		return nil, apierr.About("trigger", req.Msg.Id, err)
	}
	return connect.NewResponse(&hookdv1.DeleteTriggerResponse{}), nil
}

// ListExecutions implements hookdv1connect.TriggerServiceHandler.
func (s *triggerService) ListExecutions(ctx context.Context, req *connect.Request[hookdv1.ListExecutionsRequest]) (*connect.Response[hookdv1.ListExecutionsResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	page, err := pagination.Parse(req.Msg.PageSize, req.Msg.PageToken)
	if err != nil {
		return nil, err
	}
	if tid := req.Msg.TriggerId; tid != "" {
		if _, err := s.d.Store.GetTrigger(ctx, p.ProjectID, tid); err != nil {
			return nil, apierr.About("trigger", tid, err)
		}
	}
	es, err := s.d.Store.ListExecutions(ctx, p.ProjectID, req.Msg.TriggerId, page)
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	es, next := pagination.Trim(es, page, func(e store.Execution) string { return e.ID })
	out := make([]*hookdv1.Execution, len(es))
	for i := range es {
		if out[i], err = executionToProto(&es[i], p.IsAdmin()); err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(&hookdv1.ListExecutionsResponse{Executions: out, NextPageToken: next}), nil
}

// GetExecution implements hookdv1connect.TriggerServiceHandler.
func (s *triggerService) GetExecution(ctx context.Context, req *connect.Request[hookdv1.GetExecutionRequest]) (*connect.Response[hookdv1.GetExecutionResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id == "" {
		return nil, apierr.Invalid("id", "is required")
	}
	e, err := s.d.Store.GetExecution(ctx, p.ProjectID, req.Msg.Id)
	if err != nil {
		return nil, apierr.About("execution", req.Msg.Id, err)
	}
	out, err := executionToProto(e, p.IsAdmin())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&hookdv1.GetExecutionResponse{Execution: out}), nil
}

// validate checks a trigger about to be stored and fills defaults (rate, sync timeout, generated API key).
func (s *triggerService) validate(ctx context.Context, t *store.Trigger) error {
	t.Name = strings.TrimSpace(t.Name)
	if err := checkName("name", t.Name, maxNameLen); err != nil {
		return err
	}
	if t.EventType == "" && len(t.Routes) == 0 {
		return apierr.Invalid("event_type", "is required unless routes are given")
	}
	if err := s.eventTypeExists(ctx, t.ProjectID, "event_type", t.EventType); err != nil {
		return err
	}
	if len(t.Routes) > maxRoutes {
		return apierr.Invalid("routes", "must have at most %d routes", maxRoutes)
	}
	for i, rt := range t.Routes {
		f := fmt.Sprintf("routes[%d]", i)
		switch {
		case rt.Header != "" && rt.JSONField != "":
			return apierr.Invalid(f+".header", "set header or json_field, not both")
		case rt.Header != "" && !isHeaderToken(rt.Header):
			return apierr.Invalid(f+".header", "%q is not a valid header name", rt.Header)
		case rt.JSONField != "" && strings.Contains("."+rt.JSONField+".", ".."):
			return apierr.Invalid(f+".json_field", "%q is not a dotted path such as data.kind", rt.JSONField)
		case (rt.Header != "" || rt.JSONField != "") && rt.Value == "":
			return apierr.Invalid(f+".value", "is required with header or json_field")
		case rt.Header == "" && rt.JSONField == "" && rt.Value != "":
			return apierr.Invalid(f+".header", "set header or json_field to compare value %q", rt.Value)
		case rt.EventType == "":
			return apierr.Invalid(f+".event_type", "is required")
		}
		if err := s.eventTypeExists(ctx, t.ProjectID, f+".event_type", rt.EventType); err != nil {
			return err
		}
		if rt.Subject != nil {
			if err := validateSubject(f+".subject", *rt.Subject); err != nil {
				return err
			}
		}
	}
	if err := validateSubject("subject", t.Subject); err != nil {
		return err
	}
	switch {
	case t.APIKeyHeader != "" && !isHeaderToken(t.APIKeyHeader):
		return apierr.Invalid("api_key_header", "%q is not a valid header name", t.APIKeyHeader)
	case t.APIKeyHeader == "" && t.APIKey != "" && !secret.IsHash(t.APIKey): // a stored hash stays to redact the key
		return apierr.Invalid("api_key_header", "is required when api_key is set")
	case len(t.APIKey) > maxSecretLen:
		return apierr.Invalid("api_key", "must be at most %d characters", maxSecretLen)
	case strings.ContainsAny(t.APIKey, "\r\n\x00"):
		return apierr.Invalid("api_key", "must be a valid header value")
	case t.APIKeyHeader != "" && t.APIKey == "":
		key, err := newTriggerAPIKey()
		if err != nil {
			return err
		}
		t.APIKey = key
	}
	if t.ResponseStatus != 0 && (t.ResponseStatus < 200 || t.ResponseStatus > 299) {
		return apierr.Invalid("response.status", "must be between 200 and 299")
	}
	if t.ResponseType != "" {
		if _, _, err := mime.ParseMediaType(t.ResponseType); err != nil {
			return apierr.Invalid("response.content_type", "%q is not a media type", t.ResponseType)
		}
		if trigger.IsActiveContentType(t.ResponseType) {
			return apierr.Invalid("response.content_type", "%q would run as script or style on hookd's origin; "+
				"use a data or document type (application/json, text/plain, text/html, …)", t.ResponseType)
		}
	}
	if len(t.ResponseBody) > maxResponseBodySize {
		return apierr.Invalid("response.body", "must be at most %d bytes", maxResponseBodySize)
	}
	switch {
	case t.SyncTimeout == 0:
		t.SyncTimeout = trigger.DefaultSyncTimeout
	case t.SyncTimeout < time.Millisecond || t.SyncTimeout > trigger.MaxSyncTimeout:
		return apierr.Invalid("sync_timeout", "must be between 1ms and %s", trigger.MaxSyncTimeout)
	}
	switch {
	case t.RateLimitPerSecond == 0:
		t.RateLimitPerSecond = s.cfg.DefaultRateLimit
	case t.RateLimitPerSecond < 0 || t.RateLimitPerSecond > trigger.MaxRateLimit:
		return apierr.Invalid("rate_limit_per_second", "must be between 1 and %d (0 = default %d)", trigger.MaxRateLimit, s.cfg.DefaultRateLimit)
	}
	if len(t.DropHeaders) > maxDropped {
		return apierr.Invalid("drop_headers", "must have at most %d names", maxDropped)
	}
	for i, h := range t.DropHeaders {
		if !isHeaderToken(h) {
			return apierr.Invalid(fmt.Sprintf("drop_headers[%d]", i), "%q is not a valid header name", h)
		}
	}
	if len(t.DropQueryParameters) > maxDropped {
		return apierr.Invalid("drop_query_parameters", "must have at most %d names", maxDropped)
	}
	for i, q := range t.DropQueryParameters {
		if q == "" || utf8.RuneCountInString(q) > maxNameLen {
			return apierr.Invalid(fmt.Sprintf("drop_query_parameters[%d]", i), "must be 1-%d characters", maxNameLen)
		}
	}
	if t.MaxBodyBytes < 0 || t.MaxBodyBytes > trigger.MaxMaxBodyBytes {
		return apierr.Invalid("max_body_bytes", "must be between 0 (default) and %d", trigger.MaxMaxBodyBytes)
	}
	return validateSignature(t.Signature)
}

// validateSubject checks a subject selector named field: a header name or a dotted JSON path, not both.
func validateSubject(field string, sub store.TriggerSubject) error {
	switch {
	case sub.Header != "" && sub.JSONField != "":
		return apierr.Invalid(field+".header", "set header or json_field, not both")
	case sub.Header != "" && !isHeaderToken(sub.Header):
		return apierr.Invalid(field+".header", "%q is not a valid header name", sub.Header)
	case sub.JSONField != "" && !isPath(sub.JSONField):
		return apierr.Invalid(field+".json_field", "%q is not a dotted path such as customer.id", sub.JSONField)
	}
	return nil
}

// isPath reports whether p is a dotted JSON field path: non-empty segments separated by '.'.
func isPath(p string) bool {
	return len(p) <= maxPathLen && !strings.Contains("."+p+".", "..")
}

func validateSignature(sig store.TriggerSignature) error {
	switch sig.Scheme {
	case "":
		return nil
	case store.TriggerSchemeStandardWebhooks:
		if sig.Secret == "" {
			return apierr.Invalid("signature.secret", "is required for STANDARD_WEBHOOKS")
		}
		if !strings.HasPrefix(sig.Secret, "whsec_") {
			return apierr.Invalid("signature.secret", "must be a whsec_ secret (base64 after the prefix)")
		}
		if key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig.Secret, "whsec_")); err != nil || len(key) == 0 {
			return apierr.Invalid("signature.secret", "must be a whsec_ secret (base64 after the prefix)")
		}
	case store.TriggerSchemeHMACSHA256, store.TriggerSchemeHMACSHA256Timestamped:
		name := "HMAC_SHA256"
		if sig.Scheme == store.TriggerSchemeHMACSHA256Timestamped {
			name = "HMAC_SHA256_TIMESTAMPED"
		}
		switch {
		case sig.Secret == "":
			return apierr.Invalid("signature.secret", "is required for %s", name)
		case sig.Header == "":
			return apierr.Invalid("signature.header", "is required for %s", name)
		case !isHeaderToken(sig.Header):
			return apierr.Invalid("signature.header", "%q is not a valid header name", sig.Header)
		case sig.Scheme == store.TriggerSchemeHMACSHA256Timestamped && sig.Prefix != "":
			return apierr.Invalid("signature.prefix", "is not used by HMAC_SHA256_TIMESTAMPED (the header holds t=…,v1=…)")
		}
	}
	switch {
	case sig.SignTarget && sig.Scheme != store.TriggerSchemeHMACSHA256Timestamped:
		return apierr.Invalid("signature.sign_request_target", "is used by HMAC_SHA256_TIMESTAMPED only")
	case sig.Tolerance != 0 && !timestamped(sig.Scheme):
		return apierr.Invalid("signature.timestamp_tolerance", "is used by STANDARD_WEBHOOKS and HMAC_SHA256_TIMESTAMPED only")
	case sig.Tolerance != 0 && (sig.Tolerance < time.Second || sig.Tolerance > store.MaxSignatureTolerance):
		return apierr.Invalid("signature.timestamp_tolerance", "must be between 1s and %s (default %s)",
			store.MaxSignatureTolerance, store.DefaultSignatureTolerance)
	}
	if len(sig.Secret) > maxSecretLen {
		return apierr.Invalid("signature.secret", "must be at most %d characters", maxSecretLen)
	}
	return nil
}

// eventTypeExists checks that the event type a trigger field names exists (an empty name is not checked).
func (s *triggerService) eventTypeExists(ctx context.Context, projectID, field, name string) error {
	if name == "" {
		return nil
	}
	_, err := s.d.Store.GetEventTypeByName(ctx, projectID, name)
	if errors.Is(err, store.ErrNotFound) {
		return apierr.Invalid(field, "event type %q does not exist", name)
	}
	return apierr.About("event type", name, err)
}

// newTriggerAPIKey returns a random trigger API key.
func newTriggerAPIKey() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate trigger api key: %w", err)
	}
	return "tk_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func setResponse(t *store.Trigger, r *hookdv1.TriggerResponse) {
	t.ResponseStatus, t.ResponseType, t.ResponseBody = int(r.GetStatus()), r.GetContentType(), r.GetBody()
}

func setSyncTimeout(t *store.Trigger, d *durationpb.Duration) error {
	if d == nil {
		t.SyncTimeout = 0
		return nil
	}
	if err := d.CheckValid(); err != nil {
		return apierr.Invalid("sync_timeout", "is not a valid duration")
	}
	t.SyncTimeout = d.AsDuration().Truncate(time.Millisecond)
	if t.SyncTimeout == 0 && d.AsDuration() != 0 {
		t.SyncTimeout = -1 // below the millisecond resolution: rejected by validate
	}
	return nil
}

// setSignature replaces the signature; a masked secret keeps oldSecret (clients echo what they read). The
// default tolerance is stored as 0, so that echoing the tolerance a client read is no change.
func setSignature(t *store.Trigger, sig *hookdv1.TriggerSignature, oldSecret string) error {
	sec := sig.GetSecret()
	if sec == secret.Masked {
		sec = oldSecret
	}
	var tolerance time.Duration
	if d := sig.GetTimestampTolerance(); d != nil {
		if err := d.CheckValid(); err != nil {
			return apierr.Invalid("signature.timestamp_tolerance", "is not a valid duration")
		}
		if tolerance = d.AsDuration(); tolerance == store.DefaultSignatureTolerance {
			tolerance = 0
		}
	}
	s := store.TriggerSignature{Secret: sec, Tolerance: tolerance, SignTarget: sig.GetSignRequestTarget()}
	switch sig.GetScheme() {
	case hookdv1.SignatureScheme_SIGNATURE_SCHEME_UNSPECIFIED:
		t.Signature = store.TriggerSignature{}
		return nil
	case hookdv1.SignatureScheme_SIGNATURE_SCHEME_STANDARD_WEBHOOKS:
		s.Scheme = store.TriggerSchemeStandardWebhooks
	case hookdv1.SignatureScheme_SIGNATURE_SCHEME_HMAC_SHA256:
		s.Scheme, s.Header, s.Prefix = store.TriggerSchemeHMACSHA256, sig.GetHeader(), sig.GetPrefix()
	case hookdv1.SignatureScheme_SIGNATURE_SCHEME_HMAC_SHA256_TIMESTAMPED:
		s.Scheme, s.Header, s.Prefix = store.TriggerSchemeHMACSHA256Timestamped, sig.GetHeader(), sig.GetPrefix()
	default:
		return apierr.Invalid("signature.scheme", "unknown scheme %d", sig.GetScheme())
	}
	t.Signature = s
	return nil
}

// signatureScheme is the API enum of a stored scheme.
var signatureScheme = map[string]hookdv1.SignatureScheme{
	store.TriggerSchemeStandardWebhooks:      hookdv1.SignatureScheme_SIGNATURE_SCHEME_STANDARD_WEBHOOKS,
	store.TriggerSchemeHMACSHA256:            hookdv1.SignatureScheme_SIGNATURE_SCHEME_HMAC_SHA256,
	store.TriggerSchemeHMACSHA256Timestamped: hookdv1.SignatureScheme_SIGNATURE_SCHEME_HMAC_SHA256_TIMESTAMPED,
}

// signatureToProto converts a signature (nil for none); the secret is masked unless reveal, and the tolerance of
// timestamped schemes is shown with its default filled in.
func signatureToProto(sig store.TriggerSignature, reveal bool) *hookdv1.TriggerSignature {
	scheme, ok := signatureScheme[sig.Scheme]
	if !ok {
		return nil
	}
	out := &hookdv1.TriggerSignature{Scheme: scheme, Secret: sig.Secret, Header: sig.Header, Prefix: sig.Prefix,
		SignRequestTarget: sig.SignTarget}
	if !reveal && out.Secret != "" {
		out.Secret = secret.Masked
	}
	if timestamped(sig.Scheme) {
		out.TimestampTolerance = duration(cmp.Or(sig.Tolerance, store.DefaultSignatureTolerance))
	}
	return out
}

// timestamped reports whether a scheme signs a timestamp (and so has a tolerance).
func timestamped(scheme string) bool {
	return scheme == store.TriggerSchemeStandardWebhooks || scheme == store.TriggerSchemeHMACSHA256Timestamped
}

func routesFromProto(rs []*hookdv1.TriggerRoute) []store.TriggerRoute {
	out := make([]store.TriggerRoute, len(rs))
	for i, r := range rs {
		out[i] = store.TriggerRoute{Header: r.GetHeader(), JSONField: r.GetJsonField(), Value: r.GetValue(), EventType: r.GetEventType()}
		if sub := subjectFromProto(r.GetSubject()); !sub.IsZero() {
			out[i].Subject = &sub
		}
	}
	return out
}

func subjectFromProto(s *hookdv1.TriggerSubject) store.TriggerSubject {
	return store.TriggerSubject{Header: strings.TrimSpace(s.GetHeader()), JSONField: strings.TrimSpace(s.GetJsonField())}
}

// subjectToProto converts a subject selector; none gives nil.
func subjectToProto(s store.TriggerSubject) *hookdv1.TriggerSubject {
	if s.IsZero() {
		return nil
	}
	return &hookdv1.TriggerSubject{Header: s.Header, JsonField: s.JSONField}
}

// toProto converts a trigger; secrets are masked unless reveal. The API key is stored as a hash: it is shown
// only in the response of the call that set it (CreateTrigger, or UpdateTrigger with a new key), and as
// secret.Masked afterwards, to every role.
func (s *triggerService) toProto(t *store.Trigger, reveal bool) *hookdv1.Trigger {
	apiKey := t.APIKey
	switch {
	case t.APIKeyHeader == "":
		apiKey = "" // a retired key's hash, kept only to redact it
	case secret.IsHash(apiKey):
		apiKey = secret.Masked
	}
	out := &hookdv1.Trigger{
		Id: t.ID, CreateTime: timestamp(t.CreateTime), UpdateTime: timestamp(t.UpdateTime), Name: t.Name,
		EventType: t.EventType, ApiKeyHeader: t.APIKeyHeader, ApiKey: apiKey, Sync: t.Sync,
		DropHeaders: t.DropHeaders, DropQueryParameters: t.DropQueryParameters,
		SyncTimeout: duration(t.SyncTimeout), RateLimitPerSecond: int32(t.RateLimitPerSecond),
		MaxBodyBytes: cmp.Or(t.MaxBodyBytes, s.cfg.MaxBodyBytes), Enabled: t.Enabled, Url: s.publicURL + "/t/" + t.ID,
	}
	if t.HasCustomResponse() {
		out.Response = &hookdv1.TriggerResponse{Status: int32(t.ResponseStatus), ContentType: t.ResponseType, Body: t.ResponseBody}
	}
	for _, r := range t.Routes {
		pr := &hookdv1.TriggerRoute{Header: r.Header, JsonField: r.JSONField, Value: r.Value, EventType: r.EventType}
		if r.Subject != nil {
			pr.Subject = subjectToProto(*r.Subject)
		}
		out.Routes = append(out.Routes, pr)
	}
	out.Subject = subjectToProto(t.Subject)
	out.Signature = signatureToProto(t.Signature, reveal)
	return out
}

// executionToProto converts an execution; private header and query values are masked unless reveal.
func executionToProto(e *store.Execution, reveal bool) (*hookdv1.Execution, error) {
	out := &hookdv1.Execution{
		Id: e.ID, TriggerId: e.TriggerID, ReceiveTime: timestamp(e.ReceiveTime), Method: e.Method,
		PathFragment: e.PathFragment, RawBody: e.RawBody, RawBodyBase64: e.RawBodyBase64, ContentType: e.ContentType,
		Status: int32(e.Status), EventId: e.EventID, EventType: e.EventType, Subject: e.Subject,
		BodyTruncated: e.BodyTruncated, PayloadExpired: e.PayloadExpired,
	}
	if len(e.Headers) > 0 {
		out.Headers = headersToProto(e.Headers, reveal)
	}
	if len(e.QueryParameters) > 0 {
		out.QueryParameters = headersToProto(e.QueryParameters, reveal)
	}
	if len(e.Body) > 0 && string(e.Body) != "null" {
		out.Body = &structpb.Value{}
		if err := protojson.Unmarshal(e.Body, out.Body); err != nil {
			return nil, fmt.Errorf("execution %s body: %w", e.ID, err)
		}
	}
	return out, nil
}
