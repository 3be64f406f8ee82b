package sender

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/cache"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/netguard"
	"github.com/hookd/hookd/internal/render"
	"github.com/hookd/hookd/internal/store"
)

// target is a webhook ready to send: its integration, the URL and header list, and parsed templates.
type target struct {
	webhook     *store.Webhook
	integration *store.Integration
	url         string
	urlTmpl     *render.Template // nil when the URL has no template
	headers     []targetHeader
	bodyTmpl    *render.Template // nil: the default envelope
	// invalid is why the webhook cannot be sent (e.g. a template that does not parse); empty when fine.
	invalid string
	// keyed says the URL, a header or the body writes {{.TransactionalId}} (IDEMPOTENT retries need it).
	keyed bool
}

// templated reports whether any part of the request is a template (which then needs the payload decoded).
func (t *target) templated() bool {
	if t.urlTmpl != nil || t.bodyTmpl != nil {
		return true
	}
	for _, h := range t.headers {
		if h.tmpl != nil {
			return true
		}
	}
	return false
}

// targetHeader is one request header; tmpl is set when the value is a template.
type targetHeader struct {
	store.Header
	tmpl *render.Template
}

// FullURL is the URL a webhook calls: its url, or the integration's base_url with path appended.
func FullURL(w *store.Webhook, in *store.Integration) string {
	if w.URL != "" || in == nil {
		return w.URL
	}
	base, path := in.BaseURL, w.Path
	switch {
	case path == "" || strings.HasPrefix(path, "?") || strings.HasPrefix(path, "#"):
		return base + path
	case strings.HasSuffix(base, "/") && strings.HasPrefix(path, "/"):
		return base + path[1:]
	case !strings.HasSuffix(base, "/") && !strings.HasPrefix(path, "/"):
		return base + "/" + path
	default:
		return base + path
	}
}

// Headers returns the headers a webhook sends besides hookd's own: the integration's headers that are used
// (listed in IntegrationHeaders with Use, or not listed), then the webhook's headers, which replace
// integration headers of the same name (case-insensitive). Private values go only to the origin they were saved
// for: private integration headers to the integration's own origin (PrivateHeadersAllowed), so a webhook with
// its own url elsewhere never gets them; the webhook's private headers to its PrivateOrigin, so a webhook whose
// URL (or integration's base_url) has moved since they were saved sends neither them nor the integration
// headers of the same names they replace.
func Headers(w *store.Webhook, in *store.Integration) []store.Header {
	var out []store.Header
	target := FullURL(w, in)
	if in != nil {
		use := make(map[string]bool, len(w.IntegrationHeaders))
		for _, ih := range w.IntegrationHeaders {
			use[strings.ToLower(ih.Name)] = ih.Use
		}
		private := PrivateHeadersAllowed(target, in.BaseURL)
		for _, h := range in.Headers {
			if u, listed := use[strings.ToLower(h.Name)]; (listed && !u) || (h.Private && !private) {
				continue
			}
			out = append(out, h)
		}
	}
	ownPrivate := w.PrivateOrigin != "" && PrivateHeadersAllowed(target, w.PrivateOrigin)
	for _, h := range w.Headers {
		out = deleteHeader(out, h.Name)
		if h.Private && !ownPrivate {
			continue
		}
		out = append(out, h)
	}
	return out
}

// PrivateHeadersAllowed reports whether a request to target may carry private headers saved for baseURL (an
// integration's base_url, or the origin a webhook's private headers were saved for): only when both have the
// same origin (scheme, host and port; template variables are allowed in the path and query only, so the origin
// of a URL template is fixed).
func PrivateHeadersAllowed(target, baseURL string) bool {
	a, okA := netguard.Origin(target)
	b, okB := netguard.Origin(baseURL)
	return okA && okB && a == b
}

// BindPrivate is the PrivateOrigin a webhook gets when it is saved with headers hs toward FullURL(w, in): that
// URL's origin when a header is private, else empty.
func BindPrivate(w *store.Webhook, in *store.Integration, hs []store.Header) string {
	if !slices.ContainsFunc(hs, func(h store.Header) bool { return h.Private }) {
		return ""
	}
	origin, _ := netguard.Origin(FullURL(w, in))
	return origin
}

func deleteHeader(hs []store.Header, name string) []store.Header {
	out := hs[:0]
	for _, h := range hs {
		if !strings.EqualFold(h.Name, name) {
			out = append(out, h)
		}
	}
	return out
}

// newTarget prepares webhook w (with its integration, nil when none) for sending.
func newTarget(w *store.Webhook, in *store.Integration) *target {
	t := &target{webhook: w, integration: in, url: FullURL(w, in)}
	if w.IntegrationID != "" && in == nil {
		t.invalid = "integration " + w.IntegrationID + " not found"
		return t
	}
	if w.Transport == store.TransportListen { // nothing is dialled: the path goes to the listen client as it is
		t.url = cmp.Or(w.Path, "/")
	} else if t.url == "" {
		t.invalid = "webhook has no URL"
		return t
	}
	var err error
	if w.Transport != store.TransportListen && render.HasActions(t.url) {
		if t.urlTmpl, err = render.ParseURL("url", t.url); err != nil {
			t.invalid = err.Error()
			return t
		}
	}
	for _, h := range Headers(w, in) {
		th := targetHeader{Header: h}
		if th.tmpl, err = maybeParse("header "+h.Name, h.Value); err != nil {
			t.invalid = err.Error()
			return t
		}
		t.headers = append(t.headers, th)
	}
	if w.BodyTemplate != "" {
		if t.bodyTmpl, err = render.Parse("body_template", w.BodyTemplate); err != nil {
			t.invalid = err.Error()
			return t
		}
	}
	t.keyed = render.UsesTransactionalID(t.urlTmpl, t.bodyTmpl) ||
		slices.ContainsFunc(t.headers, func(h targetHeader) bool { return render.UsesTransactionalID(h.tmpl) })
	return t
}

// maybeParse parses text as a template when it holds an action; nil when it is a plain string.
func maybeParse(name, text string) (*render.Template, error) {
	if !render.HasActions(text) {
		return nil, nil
	}
	return render.Parse(name, text)
}

// targetCache keeps loaded targets for a short time (on the injected clock) so that a batch does not query the
// webhook per delivery; one load per webhook runs at a time. A deleted webhook is cached as a target without
// webhook.
type targetCache struct {
	st      Targets
	entries *cache.TTL[string, *target]
}

func newTargetCache(st Targets, clk clock.Clock, ttl time.Duration) *targetCache {
	return &targetCache{st: st, entries: cache.New[string, *target](ttl, 0, clk)}
}

// get returns the target of a webhook, reused until ttl has passed.
func (c *targetCache) get(ctx context.Context, projectID, webhookID string) (*target, error) {
	return c.entries.Get(ctx, webhookID, func(ctx context.Context) (*target, error) { return c.load(ctx, projectID, webhookID) })
}

func (c *targetCache) load(ctx context.Context, projectID, webhookID string) (*target, error) {
	w, err := c.st.GetWebhook(ctx, projectID, webhookID)
	if errors.Is(err, store.ErrNotFound) {
		return &target{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load webhook %s: %w", webhookID, err)
	}
	var in *store.Integration
	if w.IntegrationID != "" {
		in, err = c.st.GetIntegration(ctx, projectID, w.IntegrationID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("load integration %s: %w", w.IntegrationID, err)
		}
		if err != nil {
			in = nil
		}
	}
	return newTarget(w, in), nil
}
