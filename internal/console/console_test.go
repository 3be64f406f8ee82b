package console

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	js := strings.Repeat("console.log('hookd');\n", 100)
	h, err := New(fstest.MapFS{
		"index.html":             {Data: []byte(`<!doctype html><script type="module" src="/assets/index-abc123.js"></script>`)},
		"assets/index-abc123.js": {Data: []byte(js)},
		"favicon.svg":            {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
	})
	require.NoError(t, err)
	get := func(method, target string, header ...string) *http.Response {
		req := httptest.NewRequest(method, target, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result()
	}
	body := func(res *http.Response) string {
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return string(b)
	}

	cases := []struct {
		name, method, path string
		status             int
		contentType, cache string
		bodyHas            string
	}{
		{"root", "GET", "/", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		{"index", "GET", "/index.html", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		{"client route", "GET", "/logs", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		{"deep client route", "GET", "/integrations/int_1/webhooks/wh_2", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		{"hashed asset", "GET", "/assets/index-abc123.js", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "console.log"},
		{"other file", "GET", "/favicon.svg", 200, "image/svg+xml", "no-cache", "<svg"},
		{"head", "HEAD", "/logs", 200, "text/html; charset=utf-8", "no-cache", ""},
		{"client route with dots", "GET", "/event-types/user.created", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		{"missing asset", "GET", "/assets/index-old.js", 404, "", "", ""},
		{"missing script", "GET", "/main.js", 404, "", "", ""},
		{"dot dot", "GET", "/assets/../../x/../assets/nope.css", 404, "", "", ""},
		{"api path", "GET", "/v1/deliveries/nope", 404, "", "", ""},
		{"trigger path", "GET", "/t/trg_1", 404, "", "", ""},
		{"connect path", "GET", "/hookd.v1.NoService/Get", 404, "", "", ""},
		{"grpc path", "GET", "/grpc.health.v1.Health/Check", 404, "", "", ""},
		{"post", "POST", "/", 404, "", "", ""},
	}
	for _, c := range cases {
		res := get(c.method, c.path)
		require.Equal(t, c.status, res.StatusCode, c.name)
		b := body(res)
		if c.status != 200 {
			continue
		}
		require.Equal(t, c.contentType, res.Header.Get("Content-Type"), c.name)
		require.Equal(t, c.cache, res.Header.Get("Cache-Control"), c.name)
		require.Equal(t, ContentSecurityPolicy, res.Header.Get("Content-Security-Policy"), c.name)
		require.Contains(t, res.Header.Get("Content-Security-Policy"), "default-src 'self'")
		require.Contains(t, res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
		require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), c.name)
		require.Equal(t, "DENY", res.Header.Get("X-Frame-Options"), c.name)
		require.Contains(t, b, c.bodyHas, c.name)
	}

	// gzip when accepted (identical bytes once decompressed), with its own ETag; revalidation answers 304.
	res := get("GET", "/assets/index-abc123.js", "Accept-Encoding", "br, gzip")
	require.Equal(t, "gzip", res.Header.Get("Content-Encoding"))
	require.Equal(t, "Accept-Encoding", res.Header.Get("Vary"))
	zr, err := gzip.NewReader(bytes.NewReader([]byte(body(res))))
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, js, string(plain))
	gzTag := res.Header.Get("ETag")
	res = get("GET", "/assets/index-abc123.js", "Accept-Encoding", "gzip;q=0")
	require.Empty(t, res.Header.Get("Content-Encoding"))
	require.Equal(t, js, body(res))
	require.NotEqual(t, gzTag, res.Header.Get("ETag"))
	res = get("GET", "/assets/index-abc123.js", "If-None-Match", res.Header.Get("ETag"))
	require.Equal(t, http.StatusNotModified, res.StatusCode)

	_, err = New(fstest.MapFS{"app.js": {Data: []byte("x")}})
	require.ErrorContains(t, err, "index.html")
}

// TestEmbedded checks the committed build: an index.html that loads only same-origin assets that exist.
func TestEmbedded(t *testing.T) {
	t.Parallel()
	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	require.Equal(t, 200, rec.Code)
	index := rec.Body.String()
	require.Contains(t, index, `<div id="app">`)
	for _, attr := range []string{`src="`, `href="`} {
		for _, part := range strings.Split(index, attr)[1:] {
			ref := part[:strings.IndexByte(part, '"')]
			require.True(t, strings.HasPrefix(ref, "/") && !strings.HasPrefix(ref, "//"), "index.html refers to %q, not a same-origin path", ref)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", ref, nil))
			require.Equal(t, 200, rec.Code, ref)
		}
	}
}
