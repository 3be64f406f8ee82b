package console

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// PortalPolicy is the Content-Security-Policy of the portal page: the console's, with frame-ancestors listing the
// session's allowed origins ('none' for an unknown or ended session).
func PortalPolicy(frameAncestors []string) string {
	fa := "'none'"
	if len(frameAncestors) > 0 {
		fa = strings.Join(frameAncestors, " ")
	}
	return "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors " + fa + "; form-action 'self'"
}

// Portal serves the tenants' portal page (portal.html of the embedded build) at /portal/{session_id}; origins
// returns the allowed origins of a live session (nil for an unknown, expired or revoked one), which may frame
// the page. The page's scripts and styles are the console build's /assets/.
func Portal(origins func(ctx context.Context, sessionID string) []string) http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(fmt.Sprintf("console: embedded assets: %v", err))
	}
	page, err := fs.ReadFile(sub, "portal.html")
	if err != nil {
		panic(fmt.Sprintf("console: embedded portal page: %v", err))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.NotFound(w, r)
			return
		}
		hd := w.Header()
		hd.Set("Content-Security-Policy", PortalPolicy(origins(r.Context(), r.PathValue("session_id"))))
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Content-Type", "text/html; charset=utf-8")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(page))
	})
}
