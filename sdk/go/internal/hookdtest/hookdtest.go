// Package hookdtest starts a real hookd process for SDK tests: it builds cmd/hookd of the repository
// root module once per test binary (or uses $HOOKD_BIN), runs `hookd serve --dev` on a free loopback
// port with a fresh data directory and a random bootstrap admin key, and waits for /readyz. The SDK
// module imports no server package: the server is a separate process, as it is for users.
package hookdtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running hookd process.
type Server struct {
	// URL is the base URL, e.g. "http://127.0.0.1:40123".
	URL string
	// APIKey is an instance admin ADMIN key of the "default" project.
	APIKey string
	logs   *syncBuffer
}

// Logs returns what the process printed so far.
func (s *Server) Logs() string { return s.logs.String() }

// Options adjusts Start.
type Options struct {
	// CORSOrigins are passed as --cors-origin flags.
	CORSOrigins []string
	// Args are extra `hookd serve` arguments.
	Args []string
}

// build caches the hookd binary for the whole test process: building it takes seconds and every
// live test needs the same one.
var build struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of a hookd binary: $HOOKD_BIN, or cmd/hookd built once per test process into
// $TMPDIR/hookdtest-bin.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HOOKD_BIN"); p != "" {
		return p
	}
	build.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			build.err = err
			return
		}
		// One stable path, rebuilt on every run (Go's build cache makes that quick): no binary left
		// behind per run.
		dir := filepath.Join(os.TempDir(), "hookdtest-bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			build.err = fmt.Errorf("binary dir: %w", err)
			return
		}
		build.path = filepath.Join(dir, "hookd")
		cmd := exec.Command("go", "build", "-o", build.path, "./cmd/hookd")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/hookd: %w\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// rootModule is the module path of the repository root, whose cmd/hookd this package builds.
const rootModule = "github.com/hookd/hookd"

// RepoRoot returns the directory of the hookd repository this SDK is checked out in: the nearest
// directory above the current module (sdk/go) whose go.mod declares github.com/hookd/hookd. The SDK is
// a module of its own, so the server and the examples are built from there.
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	for dir := filepath.Dir(filepath.Dir(gomod)); ; dir = filepath.Dir(dir) {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modulePath(b) == rootModule {
			return dir, nil
		}
		if parent := filepath.Dir(dir); parent == dir {
			return "", fmt.Errorf("no %s checkout above %s: set HOOKD_BIN to a hookd binary", rootModule, filepath.Dir(gomod))
		}
	}
}

// modulePath returns the module path declared in a go.mod file.
func modulePath(gomod []byte) string {
	for line := range strings.Lines(string(gomod)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// NewKey returns a random API key secret in hookd's format ("hk_" + hex).
func NewKey(t testing.TB) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "hk_" + hex.EncodeToString(b)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs hookd until the test ends. It fails the test when the server is not ready within 30 s,
// and prints the server's output when the test failed.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := Binary(t)
	port := FreePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	s := &Server{URL: url, APIKey: NewKey(t), logs: &syncBuffer{}}

	args := []string{"serve", "--dev", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", t.TempDir(), "--public-url", url}
	for _, o := range opts.CORSOrigins {
		args = append(args, "--cors-origin", o)
	}
	args = append(args, opts.Args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(withoutHookdEnv(os.Environ()), "HOOKD_BOOTSTRAP_KEY="+s.APIKey)
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start hookd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("hookd output:\n%s", s.Logs())
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("hookd exited before it was ready: %v\n%s", err, s.Logs())
		case <-ctx.Done():
			t.Fatalf("hookd not ready at %s/readyz after 30s\n%s", url, s.Logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// withoutHookdEnv drops HOOKD_* variables so the developer's settings do not leak into tests.
func withoutHookdEnv(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, "HOOKD_") {
			out = append(out, e)
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the process's writers and the test's readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
