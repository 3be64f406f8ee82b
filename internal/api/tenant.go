package api

import (
	"connectrpc.com/connect"
	"fmt"

	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/store"
)

// checkTenantID validates an optional tenant id field.
func checkTenantID(field, v string) error {
	if v != "" && !store.ValidTenantID(v) {
		return apierr.Invalid(field, "must be up to %d characters of [A-Za-z0-9._:-]", store.MaxTenantIDLen)
	}
	return nil
}

// tenantFilter is the tenant a list of p is narrowed to: a portal caller's own tenant whatever it asked for
// (another tenant's id lists nothing of its own), else the validated requested one ("" for all).
func tenantFilter(p auth.Principal, field, requested string) (string, error) {
	if p.Portal != nil {
		if requested != "" && requested != p.Portal.TenantID {
			return "", apierr.Invalid(field, "a portal token lists only its own tenant's objects")
		}
		return p.Portal.TenantID, nil
	}
	return requested, checkTenantID(field, requested)
}

// confine returns not_found when p is a portal caller and the object (of kind, with id) is not its tenant's; API
// keys see every tenant of their project.
func confine(p auth.Principal, kind, id, tenantID string) error {
	if p.Portal == nil || tenantID == p.Portal.TenantID {
		return nil
	}
	return apierr.About(kind, id, store.ErrNotFound)
}

// portalDenied is the permission_denied of a portal caller asking for what only API keys may do.
func portalDenied(format string, args ...any) error {
	return connect.NewError(connect.CodePermissionDenied, fmt.Errorf(format, args...))
}

// eventTypeVisible returns not_found when p is a portal caller whose session does not allow the event type.
func eventTypeVisible(p auth.Principal, name string) error {
	if p.Portal == nil || p.Portal.AllowsEventType(name) {
		return nil
	}
	return apierr.About("event type", name, store.ErrNotFound)
}
