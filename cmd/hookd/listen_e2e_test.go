package main

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	hookd "github.com/hookd/hookd/sdk/go"
)

// listenProc is a running `hookd listen`.
type listenProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    strings.Builder
	lines  chan string
	exited chan struct{}
}

// startListen starts `hookd listen` with args against p; it is killed in t.Cleanup.
func startListen(t *testing.T, p *proc, args ...string) *listenProc {
	t.Helper()
	l := &listenProc{lines: make(chan string, 100), exited: make(chan struct{})}
	l.cmd = exec.Command(binary, append([]string{"listen", "--server", p.baseURL, "--key", p.key}, args...)...)
	stdout, err := l.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	l.cmd.Stderr = l.cmd.Stdout
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			l.mu.Lock()
			l.out.WriteString(sc.Text() + "\n")
			l.mu.Unlock()
			select {
			case l.lines <- sc.Text():
			default:
			}
		}
		_ = l.cmd.Wait()
		close(l.exited)
	}()
	t.Cleanup(func() {
		l.stop()
		if t.Failed() {
			t.Logf("hookd listen output:\n%s", l.output())
		}
	})
	return l
}

func (l *listenProc) stop() {
	_ = l.cmd.Process.Kill()
	<-l.exited
}

func (l *listenProc) output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.String()
}

// waitLine returns the submatches of the first output line matching re.
func (l *listenProc) waitLine(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line := <-l.lines:
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-l.exited:
			t.Fatalf("hookd listen exited:\n%s", l.output())
		case <-deadline:
			t.Fatalf("no line matching %s:\n%s", re, l.output())
		}
	}
}

var (
	listenReadyRE  = regexp.MustCompile(`^Ready: webhook (wh_\S+)`)
	listenSecretRE = regexp.MustCompile(`^Signing secret: (whsec_\S+)`)
)

// TestListenEndToEnd: `hookd listen` against a real hookd creates a TRANSPORT_LISTEN webhook, a delivery published
// while no client is connected waits QUEUED without an attempt, and once the client connects the request reaches
// the local receiver (a Go SDK handler that learns the secret from `hookd listen`'s output and verifies it); the
// receiver's 500 is retried like an HTTP endpoint's, the retry succeeds, and the log holds both attempts.
func TestListenEndToEnd(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			key := testKey(t)
			p := startHookd(t, key, b.args(t)...)
			c := newClients(p.baseURL, key, "connect")
			ctx := context.Background()
			if _, err := c.eventTypes.CreateEventType(ctx, connect.NewRequest(&hookdv1.CreateEventTypeRequest{Name: "user.created"})); err != nil {
				t.Fatal(err)
			}

			var secret atomic.Value
			secret.Store("")
			var calls atomic.Int32
			var verified atomic.Int32
			receiver := httptest.NewServer(hookd.HandlerLookup(func(*http.Request) (string, error) { return secret.Load().(string), nil },
				func(_ context.Context, e *hookd.Envelope) error {
					verified.Add(1)
					if calls.Add(1) == 1 {
						return errors.New("first call fails")
					}
					return nil
				}))
			t.Cleanup(receiver.Close)

			// A first run creates the webhook and shows its secret; then it stops.
			l := startListen(t, p, "--forward-to", receiver.URL+"/webhooks", "--events", "user.created", "--name", "laptop")
			whID := l.waitLine(t, listenReadyRE)[1]
			secret.Store(l.waitLine(t, listenSecretRE)[1])
			l.stop()
			if _, err := c.webhooks.UpdateWebhook(ctx, connect.NewRequest(&hookdv1.UpdateWebhookRequest{Id: whID,
				RetryPolicy: &hookdv1.RetryPolicy{Kind: hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_FIXED,
					Interval: durationpb.New(time.Second), MaxRetries: 3}})); err != nil {
				t.Fatalf("UpdateWebhook: %v", err)
			}

			// No client: the delivery is claimed, put back QUEUED, and no attempt is spent.
			payload, _ := structpb.NewStruct(map[string]any{"email": "ada@example.com"})
			pub, err := c.events.PublishEvent(ctx, connect.NewRequest(&hookdv1.PublishEventRequest{EventType: "user.created", Payload: payload}))
			if err != nil {
				t.Fatal(err)
			}
			dlv := pub.Msg.GetDeliveryIds()[0]
			eventually(t, 20*time.Second, "a claim put back for want of a client", func() bool {
				return metric(t, p, `hookd_deliveries_total{status="queued"}`) >= 1
			})
			get := func() *hookdv1.Delivery {
				d, err := c.deliveries.GetDelivery(ctx, connect.NewRequest(&hookdv1.GetDeliveryRequest{Id: dlv}))
				if err != nil {
					t.Fatal(err)
				}
				return d.Msg.GetDelivery()
			}
			if d := get(); d.GetStatus() != hookdv1.DeliveryStatus_DELIVERY_STATUS_QUEUED || len(d.GetAttemptList()) != 0 {
				t.Fatalf("without a client: %v with %d attempts, want QUEUED with none", d.GetStatus(), len(d.GetAttemptList()))
			}

			// A second run reuses the webhook by name and delivers: 500 once, then 200.
			l2 := startListen(t, p, "--forward-to", receiver.URL+"/webhooks", "--events", "user.created", "--name", "laptop")
			if got := l2.waitLine(t, listenReadyRE)[1]; got != whID {
				t.Errorf("second run uses webhook %s, want the same %s", got, whID)
			}
			var d *hookdv1.Delivery
			eventually(t, 30*time.Second, "delivery DONE", func() bool {
				d = get()
				return d.GetStatus() == hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE
			})
			atts := d.GetAttemptList()
			if len(atts) != 2 || atts[0].GetResponseStatusCode() != 500 || atts[1].GetResponseStatusCode() != 200 {
				t.Fatalf("attempts: %v", atts)
			}
			if verified.Load() != 2 {
				t.Errorf("the SDK handler verified %d requests, want 2", verified.Load())
			}
			if !strings.Contains(atts[0].GetResponseBody(), "first call fails") {
				t.Errorf("first attempt's response body %q", atts[0].GetResponseBody())
			}
			l2.waitLine(t, regexp.MustCompile(`user\.created\s+200\s`))
			if out := l2.output(); !strings.Contains(out, "user.created") || !strings.Contains(out, " 500 ") {
				t.Errorf("hookd listen printed:\n%s", out)
			}

			// A test send goes to the connected client too.
			ts, err := c.webhooks.TestWebhook(ctx, connect.NewRequest(&hookdv1.TestWebhookRequest{Id: whID, EventType: "user.created", Payload: payload}))
			if err != nil {
				t.Errorf("TestWebhook through hookd listen: %v", err)
			} else if ts.Msg.GetStatusCode() != 200 || ts.Msg.GetError() != "" {
				t.Errorf("TestWebhook through hookd listen: %v", ts.Msg)
			}

			// A TRANSPORT_LISTEN webhook has no url; an HTTP webhook cannot be listened to.
			_, err = c.webhooks.CreateWebhook(ctx, connect.NewRequest(&hookdv1.CreateWebhookRequest{Name: "x",
				Transport: hookdv1.Transport_TRANSPORT_LISTEN, Url: "https://example.com/"}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "url") {
				t.Errorf("listen webhook with a url: %v", err)
			}
		})
	}
}
