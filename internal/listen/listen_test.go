package listen

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestHub: nothing is sent without a client of the webhook and project; a client gets the request with a token
// that only its project can complete, once; a request not reported in time is ErrTimeout; a disconnected client
// takes nothing more.
func TestHub(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := NewHub()
	if _, err := h.Send(ctx, "p1", "wh_1", Request{Timeout: time.Minute}); !errors.Is(err, ErrNoListener) {
		t.Fatalf("no client: %v", err)
	}
	c, disconnect := h.Connect("p1", "wh_1")
	if _, err := h.Send(ctx, "p2", "wh_1", Request{Timeout: time.Minute}); !errors.Is(err, ErrNoListener) {
		t.Fatalf("another project's send: %v", err)
	}
	type sent struct {
		rep Report
		err error
	}
	done := make(chan sent, 1)
	go func() {
		rep, err := h.Send(ctx, "p1", "wh_1", Request{DeliveryID: "dlv_1", Timeout: time.Minute})
		done <- sent{rep, err}
	}()
	r := <-c.Requests()
	if r.DeliveryID != "dlv_1" || r.Token == "" {
		t.Fatalf("request %+v", r)
	}
	if h.Complete("p2", r.Token, Report{StatusCode: 200}) {
		t.Fatal("another project completed the attempt")
	}
	if !h.Complete("p1", r.Token, Report{StatusCode: 503}) {
		t.Fatal("Complete refused the attempt's own token")
	}
	if got := <-done; got.err != nil || got.rep.StatusCode != 503 {
		t.Fatalf("Send: %+v", got)
	}
	if h.Complete("p1", r.Token, Report{StatusCode: 200}) {
		t.Fatal("a token completed twice")
	}

	go func() {
		_, err := h.Send(ctx, "p1", "wh_1", Request{Timeout: 20 * time.Millisecond})
		done <- sent{err: err}
	}()
	<-c.Requests() // taken, never reported
	if got := <-done; !errors.Is(got.err, ErrTimeout) {
		t.Fatalf("unreported: %v", got.err)
	}
	disconnect()
	if h.Connected("wh_1") {
		t.Fatal("still connected")
	}
	if _, err := h.Send(ctx, "p1", "wh_1", Request{Timeout: time.Minute}); !errors.Is(err, ErrNoListener) {
		t.Fatalf("after disconnect: %v", err)
	}
}
