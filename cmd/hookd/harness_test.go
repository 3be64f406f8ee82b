package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store/storetest"
)

// binary is the hookd binary built once by TestMain.
var binary string

// clusterSecretKey is the HOOKD_SECRET_KEY of every PostgreSQL hookd the tests start.
var clusterSecretKey = secret.GenerateKey()

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hookd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "hookd")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build hookd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// backend is where a test's hookd keeps its data.
type backend struct {
	name string
	// args returns the flags selecting a fresh database.
	args func(t testing.TB) []string
}

// args2 returns the flags of the database p uses (to restart on it).
func (backend) args2(t *testing.T, p *proc) []string {
	t.Helper()
	a := p.cmd.Args
	for i := range a {
		if (a[i] == "--data-dir" || a[i] == "--database-url") && i+1 < len(a) {
			return []string{a[i], a[i+1]}
		}
	}
	t.Fatal("no database flag")
	return nil
}

func backends() []backend {
	return []backend{
		{"sqlite", func(t testing.TB) []string { return []string{"--data-dir", t.TempDir()} }},
		{"postgres", func(t testing.TB) []string { return []string{"--database-url", storetest.PostgresURL(t)} }},
	}
}

// proc is a running `hookd serve`.
type proc struct {
	t       testing.TB
	cmd     *exec.Cmd
	baseURL string
	key     string
	mu      sync.Mutex
	stderr  bytes.Buffer
	exited  chan struct{}
	err     error
}

var listeningRE = regexp.MustCompile(`msg="hookd listening" addr=(\S+)`)

// startHookd starts `hookd serve --dev --addr 127.0.0.1:0 <args>` with HOOKD_BOOTSTRAP_KEY=key (none when key
// is empty) and waits until it listens. The process is killed in t.Cleanup.
func startHookd(t testing.TB, key string, args ...string) *proc {
	t.Helper()
	return startHookdEnv(t, key, nil, args...)
}

// startHookdEnv is startHookd with extra environment variables (they win over the defaults).
func startHookdEnv(t testing.TB, key string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, key: key, exited: make(chan struct{})}
	all := append([]string{"serve", "--dev", "--addr", "127.0.0.1:0", "--log-level", "info"}, args...)
	p.cmd = exec.Command(binary, all...)
	p.cmd.Env = append(os.Environ(), "HOOKD_BOOTSTRAP_KEY="+key)
	if key == "" {
		p.cmd.Env = append(os.Environ(), "HOOKD_BOOTSTRAP_KEY=")
	}
	if slices.Contains(args, "--database-url") {
		// The processes of a PostgreSQL cluster share their secret key (SQLite tests use the data dir's key file).
		p.cmd.Env = append(p.cmd.Env, "HOOKD_SECRET_KEY="+clusterSecretKey)
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("hookd stderr:\n%s", p.logs())
		}
	})
	select {
	case a := <-addr:
		p.baseURL = "http://" + a
	case <-p.exited:
		t.Fatalf("hookd exited before listening: %v\n%s", p.err, p.logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("hookd did not start in 60s:\n%s", p.logs())
	}
	return p
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// signal sends sig and waits for the process to exit (up to 30s).
func (p *proc) stop(sig syscall.Signal) error {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("hookd did not exit within 30s after %v", sig)
	}
}

// withKey adds the API key to every call, unary and streaming.
func withKey(key string) connect.ClientOption {
	return connect.WithInterceptors(auth.ClientKey(key))
}

// h2c is an HTTP client speaking HTTP/2 without TLS (what gRPC needs on hookd's plain port).
func h2c() *http.Client {
	tr := &http.Transport{Proxy: nil}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// clients are the generated clients of one protocol.
type clients struct {
	integrations  hookdv1connect.IntegrationServiceClient
	webhooks      hookdv1connect.WebhookServiceClient
	eventTypes    hookdv1connect.EventTypeServiceClient
	subscriptions hookdv1connect.SubscriptionServiceClient
	events        hookdv1connect.EventServiceClient
	deliveries    hookdv1connect.DeliveryServiceClient
	projects      hookdv1connect.ProjectServiceClient
	apiKeys       hookdv1connect.ApiKeyServiceClient
}

// newClients returns clients speaking protocol "connect" (HTTP/1.1 JSON), "grpc" (h2c) or "grpcweb".
func newClients(baseURL, key, protocol string) clients {
	hc := &http.Client{Timeout: 30 * time.Second}
	opts := []connect.ClientOption{withKey(key)}
	switch protocol {
	case "connect":
		opts = append(opts, connect.WithProtoJSON())
	case "grpc":
		hc = h2c()
		opts = append(opts, connect.WithGRPC())
	case "grpcweb":
		opts = append(opts, connect.WithGRPCWeb())
	}
	return clients{
		integrations:  hookdv1connect.NewIntegrationServiceClient(hc, baseURL, opts...),
		webhooks:      hookdv1connect.NewWebhookServiceClient(hc, baseURL, opts...),
		eventTypes:    hookdv1connect.NewEventTypeServiceClient(hc, baseURL, opts...),
		subscriptions: hookdv1connect.NewSubscriptionServiceClient(hc, baseURL, opts...),
		events:        hookdv1connect.NewEventServiceClient(hc, baseURL, opts...),
		deliveries:    hookdv1connect.NewDeliveryServiceClient(hc, baseURL, opts...),
		projects:      hookdv1connect.NewProjectServiceClient(hc, baseURL, opts...),
		apiKeys:       hookdv1connect.NewApiKeyServiceClient(hc, baseURL, opts...),
	}
}

// curl POSTs Connect JSON to /<procedure> like `curl -H 'Content-Type: application/json' -d …` and returns
// the status and the decoded JSON reply.
func curl(t *testing.T, baseURL, key, procedure string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, baseURL+procedure, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", procedure, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST %s: status %d, body not JSON: %q", procedure, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// get GETs a path and returns the status and body.
func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond every 20ms until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testKey(t *testing.T) string {
	t.Helper()
	return "hk_test_" + randomHex(16)
}

// randomHex is n random bytes in hex (names and tags that do not collide between tests).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
