package auth

import (
	"fmt"
	"strings"

	"connectrpc.com/connect"

	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/store"
)

// Requirement is what a caller needs to call a procedure.
type Requirement int

// Requirements, weakest first.
const (
	// Public procedures need no API key (the request carries its own capability).
	Public Requirement = iota + 1
	// Read procedures need any valid key (VIEWER, MEMBER or ADMIN).
	Read
	// Write procedures need a MEMBER or ADMIN key.
	Write
	// Admin procedures need an ADMIN key.
	Admin
	// InstanceAdmin procedures need an ADMIN key flagged as instance admin.
	InstanceAdmin
)

// String names the requirement.
func (r Requirement) String() string {
	switch r {
	case Public:
		return "public"
	case Read:
		return "read"
	case Write:
		return "write"
	case Admin:
		return "admin"
	case InstanceAdmin:
		return "instance admin"
	default:
		return fmt.Sprintf("Requirement(%d)", int(r))
	}
}

// Policy maps procedures ("/hookd.v1.WebhookService/CreateWebhook") to requirements. Procedures it does not
// list follow the naming rule: Get*, List*, Export* and Watch* methods are Read, every other method is Write.
type Policy map[string]Requirement

// DefaultPolicy is hookd's role table: VIEWER reads (also WatchDeliveries, the live form of ListDeliveries,
// CreateExportLink, a link to an export, and GetCurrentApiKey), MEMBER also writes, ApiKeyService needs ADMIN, CreateProject needs an instance admin key,
// UpdateActionStatus is public (its token is the capability).
func DefaultPolicy() Policy {
	return Policy{
		hookdv1connect.ActionStatusServiceUpdateActionStatusProcedure: Public,
		hookdv1connect.ProjectServiceCreateProjectProcedure:           InstanceAdmin,
		hookdv1connect.ApiKeyServiceCreateApiKeyProcedure:             Admin,
		hookdv1connect.ApiKeyServiceListApiKeysProcedure:              Admin,
		hookdv1connect.ApiKeyServiceRevokeApiKeyProcedure:             Admin,
		hookdv1connect.ApiKeyServiceGetCurrentApiKeyProcedure:         Read,
		hookdv1connect.DeliveryServiceWatchDeliveriesProcedure:        Read,
		hookdv1connect.DeliveryServiceCreateExportLinkProcedure:       Read,
	}
}

// Require returns the requirement of a procedure.
func (p Policy) Require(procedure string) Requirement {
	if r, ok := p[procedure]; ok {
		return r
	}
	method := procedure[strings.LastIndexByte(procedure, '/')+1:]
	for _, read := range []string{"Get", "List", "Export", "Watch"} {
		if strings.HasPrefix(method, read) {
			return Read
		}
	}
	return Write
}

// Authorize returns nil when the caller may call the procedure, else a permission_denied error.
func (p Policy) Authorize(pr Principal, procedure string) error {
	req := p.Require(procedure)
	ok := false
	switch req {
	case Public, Read:
		ok = true
	case Write:
		ok = pr.Role == store.RoleAdmin || pr.Role == store.RoleMember
	case Admin:
		ok = pr.Role == store.RoleAdmin
	case InstanceAdmin:
		ok = pr.Role == store.RoleAdmin && pr.InstanceAdmin
	}
	if ok {
		return nil
	}
	method := procedure[strings.LastIndexByte(procedure, '/')+1:]
	var need string
	switch req {
	case Write:
		need = "a MEMBER or ADMIN key"
	case Admin:
		need = "an ADMIN key"
	default:
		need = "an instance admin key"
	}
	return connect.NewError(connect.CodePermissionDenied,
		fmt.Errorf("%s needs %s (this key is %s)", method, need, strings.ToUpper(string(pr.Role))))
}
