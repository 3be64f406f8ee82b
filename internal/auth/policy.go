package auth

import (
	"fmt"
	"strings"
	"sync"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
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
// list follow their proto definition: an RPC marked `idempotency_level = NO_SIDE_EFFECTS` is Read, every other
// RPC is Write (ReadFromDescriptor).
type Policy map[string]Requirement

// DefaultPolicy is hookd's role table: VIEWER reads (the RPCs without side effects), MEMBER also writes,
// ApiKeyService's other RPCs need ADMIN (ListApiKeys too), CreateProject and UpdateProject need an instance admin
// key, EraseSubject needs ADMIN,
// UpdateActionStatus is public (its token is the capability). RenderWebhookBody has no side effects, so a VIEWER
// may call it (the console shows a VIEWER the body a webhook would send). CreateExportLink mints a
// link (no side effect on the project, but not cacheable either): a VIEWER may call it, as it may export.
func DefaultPolicy() Policy {
	return Policy{
		hookdv1connect.ActionStatusServiceUpdateActionStatusProcedure: Public,
		hookdv1connect.ProjectServiceCreateProjectProcedure:           InstanceAdmin,
		hookdv1connect.ProjectServiceUpdateProjectProcedure:           InstanceAdmin,
		hookdv1connect.EventServiceEraseSubjectProcedure:              Admin,
		hookdv1connect.ApiKeyServiceCreateApiKeyProcedure:             Admin,
		hookdv1connect.ApiKeyServiceListApiKeysProcedure:              Admin,
		hookdv1connect.ApiKeyServiceRevokeApiKeyProcedure:             Admin,
		hookdv1connect.DeliveryServiceCreateExportLinkProcedure:       Read,
		hookdv1connect.PortalServiceCreatePortalSessionProcedure:      Admin,
		hookdv1connect.PortalServiceRevokePortalSessionsProcedure:     Admin,
	}
}

// Require returns the requirement of a procedure.
func (p Policy) Require(procedure string) Requirement {
	if r, ok := p[procedure]; ok {
		return r
	}
	return ReadFromDescriptor(procedure)
}

// ReadFromDescriptor classifies a procedure by its method descriptor: Read when its options say
// `idempotency_level = NO_SIDE_EFFECTS`, else Write (also for a procedure hookd.v1 does not define).
func ReadFromDescriptor(procedure string) Requirement {
	if noSideEffects()[procedure] {
		return Read
	}
	return Write
}

// noSideEffects is the set of hookd.v1 procedures marked NO_SIDE_EFFECTS, read once from the registered
// descriptors.
var noSideEffects = sync.OnceValue(func() map[string]bool {
	read := map[string]bool{}
	fd := hookdv1.File_hookd_v1_webhook_service_proto // registers hookd.v1; the package's other files are ranged below
	protoregistry.GlobalFiles.RangeFilesByPackage(fd.Package(), func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			svc := fd.Services().Get(i)
			for j := range svc.Methods().Len() {
				m := svc.Methods().Get(j)
				opts, _ := m.Options().(*descriptorpb.MethodOptions)
				if opts.GetIdempotencyLevel() == descriptorpb.MethodOptions_NO_SIDE_EFFECTS {
					read["/"+string(svc.FullName())+"/"+string(m.Name())] = true
				}
			}
		}
		return true
	})
	return read
})

// Authorize returns nil when the caller may call the procedure, else a permission_denied error.
// A portal principal is authorized by PortalTable instead.
func (p Policy) Authorize(pr Principal, procedure string) error {
	if pr.Portal != nil {
		return authorizePortal(pr, procedure)
	}
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
