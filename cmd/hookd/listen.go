package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/server"
)

const (
	// defaultListenName is the name of the webhook `hookd listen` creates or reuses.
	defaultListenName = "hookd listen"
	// maxForwardedResponse caps the response body `hookd listen` reads from the local receiver and reports.
	maxForwardedResponse = 64 << 10
	// listenReconnectDelay is how long `hookd listen` waits before it connects again after its stream ended.
	listenReconnectDelay = time.Second
)

// listenOptions are the flags of `hookd listen`.
type listenOptions struct {
	server, key, forwardTo, name string
	events                       stringList
	printSecret                  bool
}

// runListen runs `hookd listen`: it creates (or reuses, by name) a TRANSPORT_LISTEN webhook subscribed to the
// given event types, then forwards each request the server streams to --forward-to and reports the response.
func runListen(ctx context.Context, args []string) error {
	var o listenOptions
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.StringVar(&o.server, "server", "http://"+server.DefaultAddr, "base URL of the hookd server")
	fs.StringVar(&o.key, "key", "", "API key (MEMBER or ADMIN; ADMIN also shows the signing secret)")
	fs.StringVar(&o.forwardTo, "forward-to", "", "local URL each delivery is sent to, e.g. http://127.0.0.1:3000/webhooks")
	fs.Var(&o.events, "events", "event types to subscribe to, comma-separated (default every event type: *)")
	fs.StringVar(&o.name, "name", defaultListenName, "name of the listen webhook (reused when it exists)")
	fs.BoolVar(&o.printSecret, "print-secret", false, "set up the webhook, print its signing secret (ADMIN key) and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.key == "" {
		return errors.New("--key is required (or HOOKD_KEY)")
	}
	if o.printSecret {
		return listenAndForward(ctx, o, os.Stdout)
	}
	if u, err := url.Parse(o.forwardTo); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--forward-to: want an http(s) URL such as http://127.0.0.1:3000/webhooks, got %q", o.forwardTo)
	}
	return listenAndForward(ctx, o, os.Stdout)
}

// bearer adds the API key to every call.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// listenAndForward sets up the listen webhook and forwards its requests until ctx ends; it prints one line per
// delivery to out.
func listenAndForward(ctx context.Context, o listenOptions, out io.Writer) error {
	base := strings.TrimRight(o.server, "/")
	opt := connect.WithInterceptors(bearer(o.key))
	webhooks := hookdv1connect.NewWebhookServiceClient(http.DefaultClient, base, opt)
	subs := hookdv1connect.NewSubscriptionServiceClient(http.DefaultClient, base, opt)
	deliveries := hookdv1connect.NewDeliveryServiceClient(http.DefaultClient, base, opt)
	events := []string(o.events)
	if len(events) == 0 {
		events = []string{"*"}
	}
	w, err := listenWebhook(ctx, webhooks, o.name)
	if err != nil {
		return err
	}
	if err := subscribe(ctx, subs, w.GetId(), events); err != nil {
		return err
	}
	if o.printSecret {
		if s := w.GetSecret(); strings.HasPrefix(s, "whsec_") || strings.HasPrefix(s, "whsk_") {
			fmt.Fprintln(out, s)
			return nil
		}
		return errors.New("--print-secret: the signing secret is shown to ADMIN keys only")
	}
	fmt.Fprintf(out, "Ready: webhook %s (%q) forwards %s to %s\n", w.GetId(), w.GetName(), strings.Join(events, ","), o.forwardTo)
	if s := w.GetSecret(); strings.HasPrefix(s, "whsec_") || strings.HasPrefix(s, "whsk_") {
		fmt.Fprintf(out, "Signing secret: %s\n", s)
	} else if k := w.GetPublicKey(); k != "" {
		fmt.Fprintf(out, "Public key: %s\n", k)
	}
	for {
		err := listenOnce(ctx, deliveries, w.GetId(), o.forwardTo, out)
		if ctx.Err() != nil {
			return nil
		}
		if c := connect.CodeOf(err); c == connect.CodeUnauthenticated || c == connect.CodePermissionDenied ||
			c == connect.CodeNotFound || c == connect.CodeInvalidArgument || c == connect.CodeUnimplemented {
			return fmt.Errorf("listen deliveries: %w", err)
		}
		fmt.Fprintf(out, "%s reconnecting (%v)\n", time.Now().Format(time.TimeOnly), cmp.Or[error](err, errors.New("stream ended")))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(listenReconnectDelay):
		}
	}
}

// listenWebhook returns the project's TRANSPORT_LISTEN webhook named name, creating it when there is none.
func listenWebhook(ctx context.Context, c hookdv1connect.WebhookServiceClient, name string) (*hookdv1.Webhook, error) {
	token := ""
	for {
		res, err := c.ListWebhooks(ctx, connect.NewRequest(&hookdv1.ListWebhooksRequest{PageSize: 1000, PageToken: token}))
		if err != nil {
			return nil, fmt.Errorf("list webhooks: %w", err)
		}
		for _, w := range res.Msg.GetWebhooks() {
			if w.GetName() != name {
				continue
			}
			if w.GetTransport() != hookdv1.Transport_TRANSPORT_LISTEN {
				return nil, fmt.Errorf("--name: webhook %s is named %q but is not a TRANSPORT_LISTEN webhook; choose another name", w.GetId(), name)
			}
			return w, nil
		}
		if token = res.Msg.GetNextPageToken(); token == "" {
			break
		}
	}
	res, err := c.CreateWebhook(ctx, connect.NewRequest(&hookdv1.CreateWebhookRequest{
		Name: name, Transport: hookdv1.Transport_TRANSPORT_LISTEN,
		Description: "Deliveries go to `hookd listen` clients (local development).",
	}))
	if err != nil {
		return nil, fmt.Errorf("create listen webhook: %w", err)
	}
	return res.Msg.GetWebhook(), nil
}

// subscribe makes sure the webhook has a subscription to exactly these event types.
func subscribe(ctx context.Context, c hookdv1connect.SubscriptionServiceClient, webhookID string, events []string) error {
	res, err := c.ListSubscriptions(ctx, connect.NewRequest(&hookdv1.ListSubscriptionsRequest{WebhookId: webhookID, PageSize: 1000}))
	if err != nil {
		return fmt.Errorf("list subscriptions: %w", err)
	}
	want := slices.Sorted(slices.Values(events))
	for _, s := range res.Msg.GetSubscriptions() {
		if slices.Equal(slices.Sorted(slices.Values(s.GetEventTypes())), want) && s.GetEnabled() && s.GetFilter() == "" &&
			s.GetSubjectFilter() == "" {
			return nil
		}
	}
	if _, err := c.CreateSubscription(ctx, connect.NewRequest(&hookdv1.CreateSubscriptionRequest{
		WebhookId: webhookID, EventTypes: events,
	})); err != nil {
		return fmt.Errorf("subscribe to %s: %w", strings.Join(events, ","), err)
	}
	return nil
}

// listenOnce holds one ListenDeliveries stream and forwards what it receives.
func listenOnce(ctx context.Context, c hookdv1connect.DeliveryServiceClient, webhookID, forwardTo string, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.ListenDeliveries(ctx, connect.NewRequest(&hookdv1.ListenDeliveriesRequest{WebhookId: webhookID}))
	if err != nil {
		return err
	}
	defer stream.Close()
	for stream.Receive() {
		if r := stream.Msg().GetRequest(); r != nil {
			go forward(ctx, c, r, forwardTo, out)
		}
	}
	return stream.Err()
}

// forward sends one request to the local receiver, reports the response and prints a line about it.
func forward(ctx context.Context, c hookdv1connect.DeliveryServiceClient, r *hookdv1.ListenedRequest, forwardTo string, out io.Writer) {
	target := forwardTo
	if p := r.GetPath(); p != "" && p != "/" {
		target = strings.TrimRight(forwardTo, "/") + p
	}
	report := &hookdv1.ReportListenedAttemptRequest{AttemptToken: r.GetAttemptToken()}
	timeout := cmp.Or(r.GetTimeout().AsDuration(), 15*time.Second)
	fctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	began := time.Now()
	req, err := http.NewRequestWithContext(fctx, r.GetMethod(), target, bytes.NewReader(r.GetBody()))
	if err == nil {
		for _, h := range r.GetHeaders() {
			req.Header.Add(h.GetName(), h.GetValue())
		}
		if len(r.GetBody()) == 0 {
			req.Body, req.ContentLength = http.NoBody, 0
		}
		var resp *http.Response
		if resp, err = http.DefaultClient.Do(req); err == nil {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxForwardedResponse))
			_ = resp.Body.Close()
			report.StatusCode, report.Body = int32(resp.StatusCode), body
			for name, values := range resp.Header {
				for _, v := range values {
					report.Headers = append(report.Headers, &hookdv1.Header{Name: name, Value: v})
				}
			}
			if rerr != nil {
				report.StatusCode, report.Error = 0, "read response: "+rerr.Error()
			}
		}
	}
	elapsed := time.Since(began)
	report.Duration = durationpb.New(elapsed)
	status := fmt.Sprint(report.StatusCode)
	if err != nil {
		report.Error = err.Error()
		status = "error: " + err.Error()
	}
	fmt.Fprintf(out, "%s  %-28s %s  %s  %s (attempt %d)\n", time.Now().Format(time.TimeOnly), r.GetEventType(), status,
		elapsed.Round(time.Millisecond), r.GetDeliveryId(), r.GetAttempt())
	if _, err := c.ReportListenedAttempt(ctx, connect.NewRequest(report)); err != nil && ctx.Err() == nil {
		fmt.Fprintf(out, "%s  report %s: %v\n", time.Now().Format(time.TimeOnly), r.GetDeliveryId(), err)
	}
}
