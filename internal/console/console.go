// Package console serves hookd's web console: the single-page app built from the repository's console/
// folder (TypeScript, `make console`) into dist/, embedded in the binary so that `hookd serve` shows it on a
// fresh clone without Node.
//
// Files are served from memory with a strict Content-Security-Policy (everything from this origin only),
// gzip when the client accepts it, a year-long immutable cache for Vite's content-hashed assets/ and
// revalidation for everything else. Paths that are not files get index.html (client-side routes), except
// missing assets and the API's own prefixes, which keep answering 404.
package console

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// ContentSecurityPolicy is sent with every console response: scripts, styles, images, fonts and API calls
// from this origin only, no plugins, no framing, no <base> tricks, forms post only here.
const ContentSecurityPolicy = "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'"

// apiPrefixes are paths the console never answers: the API, triggers, probes and gRPC services.
var apiPrefixes = []string{"/v1/", "/t/", "/hookd.", "/grpc.", "/healthz", "/readyz", "/metrics"}

// contentTypes fixes the types of the files Vite writes (the system's MIME table may differ between machines).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// file is one asset held in memory.
type file struct {
	body, gz    []byte
	contentType string
	etag        string
	immutable   bool
}

// Handler serves the embedded console. The assets are fixed when the binary is built, so a broken build
// (no dist/index.html) panics here, like template.Must; TestEmbedded guards the committed build.
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err == nil {
		var h http.Handler
		if h, err = New(sub); err == nil {
			return h
		}
	}
	panic(fmt.Sprintf("console: embedded assets: %v", err))
}

// New serves the console from fsys, which must hold index.html at its root.
func New(fsys fs.FS) (http.Handler, error) {
	files := map[string]*file{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		f := &file{
			body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`,
			contentType: cmp.Or(contentTypes[path.Ext(p)], mime.TypeByExtension(path.Ext(p)), http.DetectContentType(b)),
			immutable:   strings.HasPrefix(p, "assets/"),
		}
		if compressible(f.contentType) && len(b) > 512 {
			if f.gz, err = gzipBytes(b); err != nil {
				return err
			}
		}
		files["/"+p] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console assets: %w", err)
	}
	if files["/index.html"] == nil {
		return nil, errors.New("console assets: no index.html")
	}
	return &handler{files: files}, nil
}

type handler struct{ files map[string]*file }

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if r.Method != http.MethodGet && r.Method != http.MethodHead || isAPI(p) {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")

	p = path.Clean("/" + p)
	f := h.files[p]
	if f == nil {
		if strings.HasPrefix(p, "/assets/") || path.Ext(p) == ".js" || path.Ext(p) == ".css" {
			// A missing asset (an old hashed file name, a typo) is not a page. Other paths may hold dots
			// (/event-types/user.created, /customers/ada@example.com): they are client routes.
			http.NotFound(w, r)
			return
		}
		f = h.files["/index.html"] // client-side route
	}
	if f.immutable {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	hd.Set("Content-Type", f.contentType)
	hd.Set("ETag", f.etag)
	body := f.body
	if f.gz != nil {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			hd.Set("Content-Encoding", "gzip")
			hd.Set("ETag", strings.TrimSuffix(f.etag, `"`)+`-gz"`)
			body = f.gz
		}
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func isAPI(p string) bool {
	for _, pre := range apiPrefixes {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			return strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0"
		}
	}
	return false
}

func compressible(contentType string) bool {
	for _, t := range []string{"text/", "application/javascript", "application/json", "image/svg+xml", "application/manifest+json"} {
		if strings.HasPrefix(contentType, t) {
			return true
		}
	}
	return false
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
