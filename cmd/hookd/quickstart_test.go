package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// quickstartRE finds the README's Quick start blocks: a fenced sh block right after `<!-- quickstart: NAME -->`.
var quickstartRE = regexp.MustCompile("(?s)<!-- quickstart: ([a-z]+) -->\\s*```sh\\n(.*?)```")

// quickstartBlocks returns the README's Quick start blocks by name.
func quickstartBlocks(t *testing.T) map[string]string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	for _, m := range quickstartRE.FindAllStringSubmatch(string(readme), -1) {
		blocks[m[1]] = m[2]
	}
	for _, name := range []string{"serve", "receiver", "listen", "publish"} {
		if blocks[name] == "" {
			t.Fatalf("README has no <!-- quickstart: %s --> block", name)
		}
	}
	return blocks
}

// shell is one quick-start terminal: a bash running a block in its own process group.
type shell struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (s *shell) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

func (s *shell) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// runBlock starts block in bash (errexit) in dir with env added; the process group is killed in t.Cleanup.
func runBlock(t *testing.T, name, dir, block string, env ...string) *shell {
	t.Helper()
	s := &shell{done: make(chan struct{})}
	s.cmd = exec.Command("bash", "-e", "-o", "pipefail", "-c", block)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = s, s
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		if t.Failed() {
			t.Logf("quickstart block %q output:\n%s", name, s.output())
		}
	})
	return s
}

// waitFor waits until the shell's output matches re; it fails when the shell exits first.
func (s *shell) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(s.output()); m != nil {
			return m
		}
		select {
		case <-s.done:
			if m := re.FindStringSubmatch(s.output()); m != nil {
				return m
			}
			t.Fatalf("exited (%v) before printing %s:\n%s", s.cmd.ProcessState, re, s.output())
		case <-time.After(50 * time.Millisecond): // polling the output of another process
		}
	}
	t.Fatalf("no %s within 60 s:\n%s", re, s.output())
	return nil
}

// freeAddr returns a loopback address with a port free at the time of the call.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestQuickstart runs README's Quick start as written, in a temporary directory, with the built hookd and the
// example receiver standing in for `go run` (free ports for 8080 and 9000, HOOKD_SERVER for `hookd listen`'s default --server): the published event must reach
// the receiver through `hookd listen`, signature verified, and `hookd listen` must print its 200.
func TestQuickstart(t *testing.T) {
	t.Parallel()
	blocks := quickstartBlocks(t)
	dir := t.TempDir()
	receiverBin := filepath.Join(dir, "receiver")
	if out, err := exec.Command("go", "build", "-o", receiverBin, "../../examples/receiver").CombinedOutput(); err != nil {
		t.Fatalf("build the example receiver: %v\n%s", err, out)
	}
	key := testKey(t)
	hookdAddr, receiverAddr := freeAddr(t), freeAddr(t)
	adapt := func(block string) string {
		return strings.NewReplacer("go run ./cmd/hookd", binary, "go run ./examples/receiver", receiverBin,
			"127.0.0.1:8080", hookdAddr, "127.0.0.1:9000", receiverAddr).Replace(block)
	}
	env := []string{"KEY=" + key, "HOOKD_BOOTSTRAP_KEY=" + key, "HOOKD_ADDR=" + hookdAddr, "HOOKD_SERVER=http://" + hookdAddr, "ADDR=" + receiverAddr,
		"HOOKD_SECRET_KEY="}

	serve := runBlock(t, "serve", dir, adapt(blocks["serve"]), env...)
	serve.waitFor(t, regexp.MustCompile(`msg="hookd listening"`))
	receiver := runBlock(t, "receiver", dir, adapt(blocks["receiver"]), env...)
	receiver.waitFor(t, regexp.MustCompile(`listening on`))
	listen := runBlock(t, "listen", dir, adapt(blocks["listen"]), env...)
	listen.waitFor(t, regexp.MustCompile(`Ready: webhook`))

	publish := runBlock(t, "publish", dir, adapt(blocks["publish"]), env...)
	<-publish.done
	if !publish.cmd.ProcessState.Success() || !strings.Contains(publish.output(), `"deliveryIds":["dlv_`) {
		t.Fatalf("publish block: %v\n%s", publish.cmd.ProcessState, publish.output())
	}
	receiver.waitFor(t, regexp.MustCompile(`received type=user\.created .*subject=cus_42 data=\{"email":"ada@example.com"\}`))
	listen.waitFor(t, regexp.MustCompile(`user\.created\s+200\s`))
}
