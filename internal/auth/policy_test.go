package auth

import (
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	_ "github.com/hookd/hookd/gen/go/hookd/v1" // registers the hookd.v1 descriptors
	"github.com/hookd/hookd/internal/store"
)

// allProcedures lists every RPC of hookd.v1 from the registered descriptors, so a new RPC is classified here.
func allProcedures(t *testing.T) []string {
	t.Helper()
	var procs []string
	protoregistry.GlobalFiles.RangeFilesByPackage("hookd.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				procs = append(procs, "/"+string(svc.FullName())+"/"+string(svc.Methods().Get(j).Name()))
			}
		}
		return true
	})
	if len(procs) < 40 {
		t.Fatalf("found only %d procedures in hookd.v1", len(procs))
	}
	return procs
}

func TestRoleTable(t *testing.T) {
	t.Parallel()
	// want[procedure] = which callers may call it: V(iewer), M(ember), A(dmin), I(nstance admin ADMIN) keys, and
	// portal tokens of a ROLE_MEMBER (W) or ROLE_VIEWER (R) session. A new RPC fails here until it is classified
	// for keys (DefaultPolicy or its descriptor) and for portal tokens (PortalTable).
	want := map[string]string{
		"/hookd.v1.ActionStatusService/UpdateActionStatus":     "VMAI",
		"/hookd.v1.ProjectService/CreateProject":               "I",
		"/hookd.v1.ProjectService/UpdateProject":               "I",
		"/hookd.v1.EventService/EraseSubject":                  "AI",
		"/hookd.v1.ProjectService/GetProject":                  "VMAI",
		"/hookd.v1.ProjectService/ListProjects":                "VMAI",
		"/hookd.v1.ApiKeyService/CreateApiKey":                 "AI",
		"/hookd.v1.ApiKeyService/ListApiKeys":                  "AI",
		"/hookd.v1.ApiKeyService/RevokeApiKey":                 "AI",
		"/hookd.v1.ApiKeyService/GetCurrentApiKey":             "VMAI",
		"/hookd.v1.IntegrationService/CreateIntegration":       "MAI",
		"/hookd.v1.IntegrationService/GetIntegration":          "VMAI",
		"/hookd.v1.IntegrationService/ListIntegrations":        "VMAI",
		"/hookd.v1.IntegrationService/UpdateIntegration":       "MAI",
		"/hookd.v1.IntegrationService/DeleteIntegration":       "MAI",
		"/hookd.v1.WebhookService/CreateWebhook":               "MAIW",
		"/hookd.v1.WebhookService/GetWebhook":                  "VMAIWR",
		"/hookd.v1.WebhookService/ListWebhooks":                "VMAIWR",
		"/hookd.v1.WebhookService/UpdateWebhook":               "MAIW",
		"/hookd.v1.WebhookService/DeleteWebhook":               "MAIW",
		"/hookd.v1.WebhookService/CopyWebhook":                 "MAI",
		"/hookd.v1.WebhookService/RotateWebhookSecret":         "MAIW",
		"/hookd.v1.WebhookService/TestWebhook":                 "MAIW",
		"/hookd.v1.WebhookService/RenderWebhookBody":           "VMAI",
		"/hookd.v1.WebhookService/GetWebhookStats":             "VMAIWR",
		"/hookd.v1.EventTypeService/CreateEventType":           "MAI",
		"/hookd.v1.EventTypeService/GetEventType":              "VMAIWR",
		"/hookd.v1.EventTypeService/ListEventTypes":            "VMAIWR",
		"/hookd.v1.EventTypeService/UpdateEventType":           "MAI",
		"/hookd.v1.EventTypeService/DeleteEventType":           "MAI",
		"/hookd.v1.SubscriptionService/CreateSubscription":     "MAIW",
		"/hookd.v1.SubscriptionService/GetSubscription":        "VMAIWR",
		"/hookd.v1.SubscriptionService/ListSubscriptions":      "VMAIWR",
		"/hookd.v1.SubscriptionService/UpdateSubscription":     "MAIW",
		"/hookd.v1.SubscriptionService/DeleteSubscription":     "MAIW",
		"/hookd.v1.SubscriptionService/TestSubscriptionFilter": "VMAIWR",
		"/hookd.v1.EventService/PublishEvent":                  "MAI",
		"/hookd.v1.EventService/PublishEvents":                 "MAI",
		"/hookd.v1.EventService/GetEvent":                      "VMAIWR",
		"/hookd.v1.EventService/ListEvents":                    "VMAIWR",
		"/hookd.v1.DeliveryService/ListDeliveries":             "VMAIWR",
		"/hookd.v1.DeliveryService/GetDelivery":                "VMAIWR",
		"/hookd.v1.DeliveryService/RetryDelivery":              "MAIW",
		"/hookd.v1.DeliveryService/RetryDeliveries":            "MAIW",
		"/hookd.v1.DeliveryService/CancelDelivery":             "MAI",
		"/hookd.v1.DeliveryService/ExportDeliveries":           "VMAIWR",
		"/hookd.v1.DeliveryService/WatchDeliveries":            "VMAIWR",
		"/hookd.v1.DeliveryService/CreateExportLink":           "VMAI",
		"/hookd.v1.DeliveryService/ListenDeliveries":           "MAI",
		"/hookd.v1.DeliveryService/ReportListenedAttempt":      "MAI",
		"/hookd.v1.TriggerService/CreateTrigger":               "MAI",
		"/hookd.v1.TriggerService/GetTrigger":                  "VMAI",
		"/hookd.v1.TriggerService/ListTriggers":                "VMAI",
		"/hookd.v1.TriggerService/UpdateTrigger":               "MAI",
		"/hookd.v1.TriggerService/DeleteTrigger":               "MAI",
		"/hookd.v1.TriggerService/ListExecutions":              "VMAI",
		"/hookd.v1.TriggerService/GetExecution":                "VMAI",
		"/hookd.v1.PortalService/CreatePortalSession":          "AI",
		"/hookd.v1.PortalService/RevokePortalSessions":         "AI",
		"/hookd.v1.PortalService/GetCurrentPortalSession":      "VMAIWR",
	}
	callers := map[string]Principal{
		"V": {Role: store.RoleViewer},
		"M": {Role: store.RoleMember},
		"A": {Role: store.RoleAdmin},
		"I": {Role: store.RoleAdmin, InstanceAdmin: true},
		"W": PortalPrincipal(&store.PortalSession{ID: "ps_1", TenantID: "t1", Role: store.RoleMember}),
		"R": PortalPrincipal(&store.PortalSession{ID: "ps_2", TenantID: "t1", Role: store.RoleViewer}),
	}
	policy := DefaultPolicy()
	for _, proc := range allProcedures(t) {
		allowed, ok := want[proc]
		if !ok {
			t.Errorf("%s is not in the role table of this test: classify it", proc)
			continue
		}
		for name, p := range callers {
			err := policy.Authorize(p, proc)
			if strings.Contains(allowed, name) {
				if err != nil {
					t.Errorf("%s as %s: %v, want allowed", proc, name, err)
				}
				continue
			}
			var cerr *connect.Error
			if !errors.As(err, &cerr) || cerr.Code() != connect.CodePermissionDenied {
				t.Errorf("%s as %s: %v, want permission_denied", proc, name, err)
			}
		}
	}
	// A MEMBER or VIEWER flagged instance admin still cannot create projects.
	for _, role := range []store.Role{store.RoleMember, store.RoleViewer} {
		if err := policy.Authorize(Principal{Role: role, InstanceAdmin: true}, "/hookd.v1.ProjectService/CreateProject"); err == nil {
			t.Errorf("instance admin %s may create projects, want permission_denied", role)
		}
	}
	if policy.Require("/hookd.v1.ActionStatusService/UpdateActionStatus") != Public {
		t.Error("UpdateActionStatus must be public")
	}
}

// TestRequireReadsDescriptor: every RPC the policy table does not list is Read exactly when its proto says
// `idempotency_level = NO_SIDE_EFFECTS` (not by its name), and the table lists only exceptions to that rule.
func TestRequireReadsDescriptor(t *testing.T) {
	t.Parallel()
	policy := DefaultPolicy()
	for _, proc := range allProcedures(t) {
		desc, err := protoregistry.GlobalFiles.FindDescriptorByName(
			protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(proc, "/"), "/", ".")))
		if err != nil {
			t.Fatalf("%s: %v", proc, err)
		}
		opts := desc.(protoreflect.MethodDescriptor).Options().(*descriptorpb.MethodOptions)
		fromProto := Write
		if opts.GetIdempotencyLevel() == descriptorpb.MethodOptions_NO_SIDE_EFFECTS {
			fromProto = Read
		}
		override, listed := policy[proc]
		switch {
		case !listed && policy.Require(proc) != fromProto:
			t.Errorf("%s: Require = %s, want %s from its descriptor", proc, policy.Require(proc), fromProto)
		case listed && override == fromProto:
			t.Errorf("%s: the policy table repeats what its descriptor says (%s)", proc, fromProto)
		}
	}
	if got := policy.Require("/hookd.v1.WebhookService/GetUnknown"); got != Write {
		t.Errorf("an unknown Get procedure: %s, want write", got)
	}
}

func TestBearer(t *testing.T) {
	t.Parallel()
	cases := []struct {
		header, want string
		ok           bool
	}{
		{"Bearer hk_abc", "hk_abc", true},
		{"bearer hk_abc", "hk_abc", true},
		{"BEARER  hk_abc ", "hk_abc", true},
		{"Basic dXNlcjpwYXNz", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"hk_abc", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		got, ok := BearerToken(c.header)
		if got != c.want || ok != c.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", c.header, got, ok, c.want, c.ok)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	a, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two generated keys are equal")
	}
	if !strings.HasPrefix(a, "hk_") || len(a) != 3+43 {
		t.Fatalf("key %q: want hk_ + 43 base64url characters", a)
	}
	if p := Prefix(a); p != a[:10] {
		t.Fatalf("Prefix = %q, want %q", p, a[:10])
	}
	if len(HashKey(a)) != 32 || string(HashKey(a)) == string(HashKey(b)) {
		t.Fatal("HashKey must be a 32-byte SHA-256 that differs per key")
	}
}
