package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
)

// privatePostgres is a throwaway PostgreSQL server of the test's own (so that restarting it disturbs no other
// test), run from the local installation's binaries.
type privatePostgres struct {
	bin, data, sock string
	port            int
	asPostgres      bool
}

// startPrivatePostgres initdb's and starts a server on a free port; it is stopped in t.Cleanup. Without
// PostgreSQL binaries the test is skipped (it fails when CI=true).
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are missing")
		}
		t.Skip("no PostgreSQL server binaries")
	}
	pg := &privatePostgres{bin: filepath.Dir(bins[len(bins)-1]), asPostgres: os.Geteuid() == 0}
	dir, err := os.MkdirTemp("", "hookd-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pg.data, pg.sock = filepath.Join(dir, "data"), dir
	if pg.asPostgres { // PostgreSQL refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("root needs the postgres user to run a server: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pg.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	pg.run(t, "initdb", "-D", pg.data, "-A", "trust", "-U", "postgres", "--no-sync")
	pg.ctl(t, "start")
	t.Cleanup(func() { _ = pg.command("pg_ctl", "-D", pg.data, "-m", "immediate", "stop").Run() })
	return pg
}

func (pg *privatePostgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

func (pg *privatePostgres) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(pg.bin, name)
	if pg.asPostgres {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (pg *privatePostgres) run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := pg.command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

// ctl runs pg_ctl start or restart (fast shutdown) and waits until the server accepts connections.
func (pg *privatePostgres) ctl(t *testing.T, action string) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", pg.port, pg.sock)
	pg.run(t, "pg_ctl", "-D", pg.data, "-o", opts, "-l", filepath.Join(pg.sock, "log"), "-m", "fast", "-w", action)
}

// TestPostgresRestartLosesNothing: PostgreSQL restarts (fast shutdown: every connection is cut) while events
// are published; every event whose publish returned OK is delivered afterwards.
func TestPostgresRestartLosesNothing(t *testing.T) {
	t.Parallel()
	pg := startPrivatePostgres(t)
	key := testKey(t)
	p := startHookd(t, key, "--database-url", pg.url(), "--workers", "16")
	rec := newRecorder(t, nil)
	c := newClients(p.baseURL, key, "connect")
	setupWebhook(t, c, rec.srv.URL)

	var mu sync.Mutex
	accepted := map[string]bool{}
	var failed int
	stop := make(chan struct{})
	var publishers sync.WaitGroup
	for range 4 {
		publishers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				pl, _ := structpb.NewStruct(map[string]any{"n": i})
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				res, err := c.events.PublishEvent(ctx, connect.NewRequest(&hookdv1.PublishEventRequest{EventType: "user.created", Payload: pl}))
				cancel()
				mu.Lock()
				if err != nil {
					failed++
				} else {
					for _, id := range res.Msg.GetDeliveryIds() {
						accepted[id] = true
					}
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(time.Second)
	restart := time.Now()
	pg.ctl(t, "restart")
	t.Logf("PostgreSQL restarted in %s", time.Since(restart).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	close(stop)
	publishers.Wait()

	mu.Lock()
	t.Logf("%d publishes accepted, %d refused around the restart", len(accepted), failed)
	if len(accepted) < 20 {
		t.Fatalf("only %d publishes succeeded", len(accepted))
	}
	mu.Unlock()
	eventually(t, 60*time.Second, "every accepted event delivered after the restart", func() bool {
		got := map[string]bool{}
		for _, r := range rec.all() {
			got[r.header.Get("webhook-id")] = true
		}
		for id := range accepted {
			if !got[id] {
				return false
			}
		}
		return true
	})
}
