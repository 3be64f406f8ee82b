package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"connectrpc.com/connect"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/netguard"
	"github.com/hookd/hookd/internal/pagination"
	"github.com/hookd/hookd/internal/render"
	"github.com/hookd/hookd/internal/store"
)

// maxRateLimit is the highest rate_limit_per_second an integration may set.
const maxRateLimit = 100000

// NewIntegrationService returns the IntegrationService handler.
func NewIntegrationService(d Deps) hookdv1connect.IntegrationServiceHandler {
	return &integrationService{d: d}
}

type integrationService struct{ d Deps }

// CreateIntegration implements hookdv1connect.IntegrationServiceHandler.
func (s *integrationService) CreateIntegration(ctx context.Context, req *connect.Request[hookdv1.CreateIntegrationRequest]) (*connect.Response[hookdv1.CreateIntegrationResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	headers, err := headersFromProto("headers", m.GetHeaders(), nil, false, p.IsAdmin())
	if err != nil {
		return nil, err
	}
	authn, err := authFromProto(m.GetAuth(), nil, s.d.Dev)
	if err != nil {
		return nil, err
	}
	now := s.d.now()
	in := &store.Integration{
		ID: id.New(id.Integration, now), ProjectID: p.ProjectID, Name: m.GetName(), BaseURL: m.GetBaseUrl(),
		RateLimitPerSecond: int(m.GetRateLimitPerSecond()), Headers: headers, Auth: authn, CreateTime: now, UpdateTime: now,
	}
	if err := s.validate(in); err != nil {
		return nil, err
	}
	if err := s.d.Quotas.Check(ctx, s.d.Store, p.ProjectID, store.KindIntegration); err != nil {
		return nil, err
	}
	if err := s.d.Store.CreateIntegration(ctx, in); err != nil {
		return nil, apierr.About("integration", in.ID, err)
	}
	return connect.NewResponse(&hookdv1.CreateIntegrationResponse{Integration: integrationToProto(in, p.IsAdmin())}), nil
}

// validate checks the fields that headersFromProto does not.
func (s *integrationService) validate(in *store.Integration) error {
	if err := checkName("name", in.Name, maxNameLen); err != nil {
		return err
	}
	if in.BaseURL == "" {
		return apierr.Invalid("base_url", "is required")
	}
	if len(in.BaseURL) > maxURLLen {
		return apierr.Invalid("base_url", "is longer than %d bytes", maxURLLen)
	}
	if render.HasActions(in.BaseURL) {
		return apierr.Invalid("base_url", "must not use template variables (use them in the webhook's path)")
	}
	if err := netguard.CheckURL(in.BaseURL, s.d.Dev); err != nil {
		return apierr.Invalid("base_url", "%v", err)
	}
	if in.RateLimitPerSecond < 0 || in.RateLimitPerSecond > maxRateLimit {
		return apierr.Invalid("rate_limit_per_second", "must be between 0 (unlimited) and %d", maxRateLimit)
	}
	return nil
}

// GetIntegration implements hookdv1connect.IntegrationServiceHandler.
func (s *integrationService) GetIntegration(ctx context.Context, req *connect.Request[hookdv1.GetIntegrationRequest]) (*connect.Response[hookdv1.GetIntegrationResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	in, err := s.d.Store.GetIntegration(ctx, p.ProjectID, req.Msg.GetId())
	if err != nil {
		return nil, apierr.About("integration", req.Msg.GetId(), err)
	}
	return connect.NewResponse(&hookdv1.GetIntegrationResponse{Integration: integrationToProto(in, p.IsAdmin())}), nil
}

// ListIntegrations implements hookdv1connect.IntegrationServiceHandler.
func (s *integrationService) ListIntegrations(ctx context.Context, req *connect.Request[hookdv1.ListIntegrationsRequest]) (*connect.Response[hookdv1.ListIntegrationsResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	page, err := pagination.Parse(req.Msg.GetPageSize(), req.Msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	ins, err := s.d.Store.ListIntegrations(ctx, p.ProjectID, page)
	if err != nil {
		return nil, fmt.Errorf("list integrations: %w", err)
	}
	ins, next := pagination.Trim(ins, page, func(x store.Integration) string { return x.ID })
	out := &hookdv1.ListIntegrationsResponse{Integrations: make([]*hookdv1.Integration, 0, len(ins)), NextPageToken: next}
	for i := range ins {
		out.Integrations = append(out.Integrations, integrationToProto(&ins[i], p.IsAdmin()))
	}
	return connect.NewResponse(out), nil
}

// UpdateIntegration implements hookdv1connect.IntegrationServiceHandler. The change is applied to the
// integration as it is when written (updateFresh): a concurrent update of other fields is kept.
func (s *integrationService) UpdateIntegration(ctx context.Context, req *connect.Request[hookdv1.UpdateIntegrationRequest]) (*connect.Response[hookdv1.UpdateIntegrationResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	in, err := updated(ctx, func() (*store.Integration, error) { return s.update(ctx, p, req.Msg) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&hookdv1.UpdateIntegrationResponse{Integration: integrationToProto(in, p.IsAdmin())}), nil
}

// update reads the integration, applies m and writes it over the version read.
func (s *integrationService) update(ctx context.Context, p auth.Principal, m *hookdv1.UpdateIntegrationRequest) (*store.Integration, error) {
	in, err := s.d.Store.GetIntegration(ctx, p.ProjectID, m.GetId())
	if err != nil {
		return nil, apierr.About("integration", m.GetId(), err)
	}
	oldOrigin, _ := netguard.Origin(in.BaseURL)
	if m.Name != nil {
		in.Name = m.GetName()
	}
	if m.BaseUrl != nil && m.GetBaseUrl() != in.BaseURL {
		// Private headers go to the base URL's origin: whoever moves it decides where the secrets go.
		if hasPrivate(in.Headers) && !p.IsAdmin() {
			return nil, apierr.PermissionDenied("base_url: the integration has private headers; only an ADMIN key may change its base_url")
		}
		newOrigin, _ := netguard.Origin(m.GetBaseUrl())
		if in.Auth != nil && newOrigin != oldOrigin && !p.IsAdmin() {
			// Its authentication goes to the base URL's origin, as private headers do.
			return nil, apierr.PermissionDenied("base_url: the integration authenticates (auth) to its base_url's origin; " +
				"only an ADMIN key may move it to another origin")
		}
		if newOrigin != oldOrigin && !p.IsAdmin() {
			w, err := s.privateWebhook(ctx, in)
			if err != nil {
				return nil, err
			}
			if w != nil {
				return nil, apierr.PermissionDenied(fmt.Sprintf("base_url: webhook %s (%q) calls this base_url with private headers; "+
					"only an ADMIN key may move it to another origin", w.ID, w.Name))
			}
		}
		in.BaseURL = m.GetBaseUrl()
	}
	if m.RateLimitPerSecond != nil {
		in.RateLimitPerSecond = int(m.GetRateLimitPerSecond())
	}
	if m.Auth != nil {
		authn, err := authFromProto(m.GetAuth(), in.Auth, s.d.Dev)
		if err != nil {
			return nil, err
		}
		if !sameAuth(authn, in.Auth) && !p.IsAdmin() {
			// Whoever changes the credentials (or where a token is fetched) decides where the secrets go.
			return nil, apierr.PermissionDenied("auth: only an ADMIN key may change an integration's authentication " +
				"(send it back as read, secrets masked, to keep it)")
		}
		in.Auth = authn
	}
	if m.Headers != nil {
		if in.Headers, err = headersFromProto("headers", m.GetHeaders().GetValues(), in.Headers, false, p.IsAdmin()); err != nil {
			return nil, err
		}
	}
	if err := s.validate(in); err != nil {
		return nil, err
	}
	in.UpdateTime = s.d.now()
	if err := s.d.Store.UpdateIntegration(ctx, in); err != nil {
		return nil, apierr.About("integration", in.ID, err)
	}
	if newOrigin, _ := netguard.Origin(in.BaseURL); p.IsAdmin() && newOrigin != oldOrigin && oldOrigin != "" {
		// An ADMIN moved the origin: the private values of the webhooks that call the base_url follow it. (When a
		// MEMBER moved it, no such webhook had private values; one saved meanwhile stays bound to the old origin
		// and sends them nowhere.)
		if _, err := s.d.Store.RebindWebhookPrivateOrigin(ctx, store.RebindPrivateOriginParams{ProjectID: p.ProjectID, IntegrationID: in.ID, From: oldOrigin, To: newOrigin}); err != nil {
			return nil, fmt.Errorf("rebind the private headers of the webhooks of integration %s: %w", in.ID, err)
		}
	}
	return in, nil
}

// privateWebhook returns a webhook of integration in that calls its base_url (no url of its own) with private
// headers; nil when there is none.
func (s *integrationService) privateWebhook(ctx context.Context, in *store.Integration) (*store.Webhook, error) {
	page := store.Page{Size: pagination.MaxSize}
	for {
		ws, err := s.d.Store.ListWebhooks(ctx, in.ProjectID, in.ID, page)
		if err != nil {
			return nil, fmt.Errorf("list the webhooks of integration %s: %w", in.ID, err)
		}
		for i := range ws {
			if ws[i].URL == "" && hasPrivate(ws[i].Headers) {
				return &ws[i], nil
			}
		}
		if len(ws) < page.Size {
			return nil, nil
		}
		page.After = ws[len(ws)-1].ID
	}
}

// DeleteIntegration implements hookdv1connect.IntegrationServiceHandler.
func (s *integrationService) DeleteIntegration(ctx context.Context, req *connect.Request[hookdv1.DeleteIntegrationRequest]) (*connect.Response[hookdv1.DeleteIntegrationResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	err = s.d.Store.DeleteIntegration(ctx, p.ProjectID, req.Msg.GetId())
	if errors.Is(err, store.ErrConflict) {
		return nil, s.inUse(ctx, p.ProjectID, req.Msg.GetId())
	}
	if err != nil {
		return nil, apierr.About("integration", req.Msg.GetId(), err)
	}
	return connect.NewResponse(&hookdv1.DeleteIntegrationResponse{}), nil
}

// inUseListed is how many of the webhooks using an integration the refusal to delete it names.
const inUseListed = 10

// inUse is the error of deleting an integration that webhooks still use: failed_precondition naming them.
func (s *integrationService) inUse(ctx context.Context, projectID, integrationID string) error {
	ws, err := s.d.Store.ListWebhooks(ctx, projectID, integrationID, store.Page{Size: inUseListed + 1})
	if err != nil {
		return fmt.Errorf("list the webhooks of integration %s: %w", integrationID, err)
	}
	if len(ws) == 0 { // its webhooks moved away meanwhile
		return apierr.FailedPrecondition("integration %q was in use by webhooks: try again", integrationID)
	}
	names := make([]string, 0, inUseListed)
	for i, w := range ws {
		if i == inUseListed {
			names = append(names, "…")
			break
		}
		names = append(names, fmt.Sprintf("%s (%q)", w.ID, w.Name))
	}
	return apierr.FailedPrecondition("integration %q is used by webhooks %s: delete them or move them to another integration first",
		integrationID, strings.Join(names, ", "))
}

// integrationToProto converts an integration, masking private header values and auth secrets unless reveal.
func integrationToProto(in *store.Integration, reveal bool) *hookdv1.Integration {
	return &hookdv1.Integration{
		Id: in.ID, CreateTime: timestamp(in.CreateTime), UpdateTime: timestamp(in.UpdateTime), Name: in.Name,
		BaseUrl: in.BaseURL, RateLimitPerSecond: int32(in.RateLimitPerSecond), Headers: headersToProto(in.Headers, reveal),
		Auth: authToProto(in.Auth, reveal),
	}
}

// hasPrivate reports whether any header is private.
func hasPrivate(hs []store.Header) bool {
	return slices.ContainsFunc(hs, func(h store.Header) bool { return h.Private })
}
