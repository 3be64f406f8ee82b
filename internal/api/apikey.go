package api

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/pagination"
	"github.com/hookd/hookd/internal/store"
)

// NewApiKeyService returns the ApiKeyService handler.
func NewApiKeyService(d Deps) hookdv1connect.ApiKeyServiceHandler {
	return &apiKeyService{d: d}
}

type apiKeyService struct{ d Deps }

// keyProject resolves the project_id of a key request: the caller's project by default; another project only for
// instance admins, and it must exist.
func (s *apiKeyService) keyProject(ctx context.Context, p auth.Principal, requested string) (string, error) {
	if requested == "" || requested == p.ProjectID {
		return p.ProjectID, nil
	}
	if !isInstanceAdmin(p) {
		return "", apierr.PermissionDenied("project_id: only instance admin keys may name another project")
	}
	if _, err := s.d.Store.GetProject(ctx, requested); err != nil {
		return "", apierr.About("project", requested, err)
	}
	return requested, nil
}

// CreateApiKey implements hookdv1connect.ApiKeyServiceHandler.
func (s *apiKeyService) CreateApiKey(ctx context.Context, req *connect.Request[hookdv1.CreateApiKeyRequest]) (*connect.Response[hookdv1.CreateApiKeyResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkName("name", req.Msg.GetName(), maxNameLen); err != nil {
		return nil, err
	}
	role, err := roleFromProto(req.Msg.GetRole())
	if err != nil {
		return nil, err
	}
	projectID, err := s.keyProject(ctx, p, req.Msg.GetProjectId())
	if err != nil {
		return nil, err
	}
	now := s.d.now()
	k := &store.APIKey{
		ID: id.New(id.APIKey, now), ProjectID: projectID, Name: req.Msg.GetName(), Role: role,
		CreateTime: now, UpdateTime: now,
	}
	secret, err := auth.IssueKey(ctx, s.d.Store, k)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.NotFound("project", projectID)
		}
		return nil, apierr.About("api key", k.ID, err)
	}
	s.d.log().InfoContext(ctx, "created api key", "key_id", k.ID, "project_id", k.ProjectID, "role", k.Role, "by_key_id", p.KeyID)
	return connect.NewResponse(&hookdv1.CreateApiKeyResponse{ApiKey: apiKeyToProto(k), Key: secret}), nil
}

// ListApiKeys implements hookdv1connect.ApiKeyServiceHandler.
func (s *apiKeyService) ListApiKeys(ctx context.Context, req *connect.Request[hookdv1.ListApiKeysRequest]) (*connect.Response[hookdv1.ListApiKeysResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	page, err := pagination.Parse(req.Msg.GetPageSize(), req.Msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	projectID, err := s.keyProject(ctx, p, req.Msg.GetProjectId())
	if err != nil {
		return nil, err
	}
	keys, err := s.d.Store.ListAPIKeys(ctx, projectID, page)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	keys, next := pagination.Trim(keys, page, func(k store.APIKey) string { return k.ID })
	out := &hookdv1.ListApiKeysResponse{ApiKeys: make([]*hookdv1.ApiKey, 0, len(keys)), NextPageToken: next}
	for i := range keys {
		if keys[i].InstanceAdmin && !isInstanceAdmin(p) {
			continue // only instance admins see instance-admin keys (a page may come back short)
		}
		out.ApiKeys = append(out.ApiKeys, apiKeyToProto(&keys[i]))
	}
	return connect.NewResponse(out), nil
}

// RevokeApiKey implements hookdv1connect.ApiKeyServiceHandler.
func (s *apiKeyService) RevokeApiKey(ctx context.Context, req *connect.Request[hookdv1.RevokeApiKeyRequest]) (*connect.Response[hookdv1.RevokeApiKeyResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	kid := req.Msg.GetId()
	if kid == "" {
		return nil, apierr.Invalid("id", "is required")
	}
	cur, err := s.d.Store.GetAPIKey(ctx, p.ProjectID, kid)
	if err != nil {
		return nil, apierr.About("api key", kid, err)
	}
	if cur.InstanceAdmin && !isInstanceAdmin(p) {
		return nil, apierr.PermissionDenied("id: only instance admin keys may revoke an instance admin key")
	}
	k, err := s.d.Store.RevokeAPIKey(ctx, p.ProjectID, kid, s.d.now())
	if err != nil {
		return nil, apierr.About("api key", kid, err)
	}
	s.d.Auth.Forget(k.Hash)
	s.d.log().InfoContext(ctx, "revoked api key", "key_id", k.ID, "project_id", k.ProjectID, "by_key_id", p.KeyID)
	return connect.NewResponse(&hookdv1.RevokeApiKeyResponse{ApiKey: apiKeyToProto(k)}), nil
}

// GetCurrentApiKey implements hookdv1connect.ApiKeyServiceHandler.
func (s *apiKeyService) GetCurrentApiKey(ctx context.Context, req *connect.Request[hookdv1.GetCurrentApiKeyRequest]) (*connect.Response[hookdv1.GetCurrentApiKeyResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	// The interceptor authenticated this secret; look the key up again for what the principal does not carry.
	secret, _ := auth.BearerToken(req.Header().Get("Authorization"))
	k, err := auth.Authenticate(ctx, s.d.Store, secret)
	if err != nil {
		if errors.Is(err, auth.ErrUnknownKey) || errors.Is(err, auth.ErrRevokedKey) {
			return nil, connect.NewError(connect.CodeUnauthenticated, err)
		}
		return nil, apierr.About("api key", p.KeyID, err)
	}
	pr, err := s.d.Store.GetProject(ctx, k.ProjectID)
	if err != nil {
		return nil, apierr.About("project", k.ProjectID, err)
	}
	return connect.NewResponse(&hookdv1.GetCurrentApiKeyResponse{ApiKey: apiKeyToProto(k), Project: projectToProto(pr)}), nil
}

// apiKeyToProto converts a key; the hash is never exposed.
func apiKeyToProto(k *store.APIKey) *hookdv1.ApiKey {
	return &hookdv1.ApiKey{
		Id: k.ID, CreateTime: timestamp(k.CreateTime), UpdateTime: timestamp(k.UpdateTime), ProjectId: k.ProjectID,
		Name: k.Name, Role: roleToProto(k.Role), InstanceAdmin: k.InstanceAdmin, Prefix: k.Prefix,
		RevokeTime: timestampPtr(k.RevokeTime),
	}
}
