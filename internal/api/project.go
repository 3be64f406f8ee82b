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

// NewProjectService returns the ProjectService handler.
func NewProjectService(d Deps) hookdv1connect.ProjectServiceHandler {
	return &projectService{d: d}
}

type projectService struct{ d Deps }

// isInstanceAdmin reports whether p may act on every project (an ADMIN key flagged instance admin).
func isInstanceAdmin(p auth.Principal) bool { return p.IsAdmin() && p.InstanceAdmin }

// CreateProject implements hookdv1connect.ProjectServiceHandler.
func (s *projectService) CreateProject(ctx context.Context, req *connect.Request[hookdv1.CreateProjectRequest]) (*connect.Response[hookdv1.CreateProjectResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if !isInstanceAdmin(p) {
		return nil, apierr.PermissionDenied("CreateProject needs an instance admin key")
	}
	name := req.Msg.GetName()
	if err := checkName("name", name, maxNameLen); err != nil {
		return nil, err
	}
	now := s.d.now()
	pr := &store.Project{ID: id.New(id.Project, now), Name: name, CreateTime: now, UpdateTime: now}
	if err := s.d.Store.CreateProject(ctx, pr); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return nil, connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("name: a project named %q already exists", name))
		}
		return nil, apierr.About("project", pr.ID, err)
	}
	return connect.NewResponse(&hookdv1.CreateProjectResponse{Project: projectToProto(pr)}), nil
}

// GetProject implements hookdv1connect.ProjectServiceHandler.
func (s *projectService) GetProject(ctx context.Context, req *connect.Request[hookdv1.GetProjectRequest]) (*connect.Response[hookdv1.GetProjectResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	pid := req.Msg.GetId()
	if pid == "" {
		pid = p.ProjectID
	}
	if pid != p.ProjectID && !isInstanceAdmin(p) {
		return nil, apierr.NotFound("project", pid)
	}
	pr, err := s.d.Store.GetProject(ctx, pid)
	if err != nil {
		return nil, apierr.About("project", pid, err)
	}
	return connect.NewResponse(&hookdv1.GetProjectResponse{Project: projectToProto(pr)}), nil
}

// ListProjects implements hookdv1connect.ProjectServiceHandler.
func (s *projectService) ListProjects(ctx context.Context, req *connect.Request[hookdv1.ListProjectsRequest]) (*connect.Response[hookdv1.ListProjectsResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	page, err := pagination.Parse(req.Msg.GetPageSize(), req.Msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	var prs []store.Project
	if isInstanceAdmin(p) {
		prs, err = s.d.Store.ListProjects(ctx, page)
		if err != nil {
			return nil, fmt.Errorf("list projects: %w", err)
		}
	} else if page.After == "" {
		// Other keys see one project, their own, on the first page.
		pr, err := s.d.Store.GetProject(ctx, p.ProjectID)
		if err != nil {
			return nil, apierr.About("project", p.ProjectID, err)
		}
		prs = []store.Project{*pr}
	}
	prs, next := pagination.Trim(prs, page, func(x store.Project) string { return x.ID })
	out := &hookdv1.ListProjectsResponse{Projects: make([]*hookdv1.Project, 0, len(prs)), NextPageToken: next}
	for i := range prs {
		out.Projects = append(out.Projects, projectToProto(&prs[i]))
	}
	return connect.NewResponse(out), nil
}

func projectToProto(p *store.Project) *hookdv1.Project {
	return &hookdv1.Project{Id: p.ID, Name: p.Name, CreateTime: timestamp(p.CreateTime), UpdateTime: timestamp(p.UpdateTime),
		Retention: duration(p.Retention), PayloadRetention: duration(p.PayloadRetention)}
}
