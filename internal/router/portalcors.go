package router

import (
	"context"
	"net/http"
	"strings"

	connectcors "connectrpc.com/cors"
)

// PortalOrigins decides the CORS answers for portal tokens, whose allowed origins are per session.
type PortalOrigins interface {
	// PreflightAllowed reports whether some live portal session lists origin (a preflight carries no token).
	PreflightAllowed(ctx context.Context, origin string) bool
	// RequestAllowed reports whether token is a live portal token whose session lists origin.
	RequestAllowed(ctx context.Context, token, origin string) bool
}

// portalPreflightMaxAge is how long a browser may keep a portal preflight's answer (seconds): short, as sessions
// come and go.
const portalPreflightMaxAge = "60"

// withPortalCORS answers CORS for portal tokens from their sessions' allowed origins: a preflight from an origin
// some live session lists is allowed (POST and GET, the Connect headers and Authorization), and an actual request
// gets Access-Control-Allow-Origin only when its bearer token is a live portal token listing its origin. Never
// `*`, never credentials. Requests of the --cors-origin origins are left to the static CORS handler (inside).
func withPortalCORS(next http.Handler, portal PortalOrigins, static []string) http.Handler {
	if portal == nil {
		return next
	}
	isStatic := map[string]bool{}
	for _, o := range static {
		isStatic[o] = true
	}
	allowHeaders := strings.Join(append(connectcors.AllowedHeaders(), "Authorization"), ", ")
	expose := strings.Join(connectcors.ExposedHeaders(), ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || isStatic[origin] {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if portal.PreflightAllowed(r.Context(), origin) {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Methods", "GET, POST")
				h.Set("Access-Control-Allow-Headers", allowHeaders)
				h.Set("Access-Control-Max-Age", portalPreflightMaxAge)
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if token, ok := bearer(r.Header.Get("Authorization")); ok && portal.RequestAllowed(r.Context(), token, origin) {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", expose)
		}
		next.ServeHTTP(w, r)
	})
}

// bearer extracts the token of an `Authorization: Bearer <token>` header.
func bearer(v string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}
