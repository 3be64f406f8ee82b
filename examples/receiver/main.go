// Command receiver is a webhook endpoint for hookd built with the Go SDK: it verifies the Standard
// Webhooks signature, decodes the event envelope and prints one line per event.
//
//	HOOKD_WEBHOOK_SECRET=whsec_... ADDR=127.0.0.1:9000 go run ./examples/receiver
//
// Point a webhook at http://127.0.0.1:9000/webhooks/hookd (hookd needs --dev for http:// targets).
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	hookd "github.com/hookd/hookd/sdk/go"
)

func main() {
	secret := os.Getenv("HOOKD_WEBHOOK_SECRET")
	if secret == "" {
		log.Fatal("HOOKD_WEBHOOK_SECRET is required (the webhook's whsec_... secret)")
	}
	addr := cmp.Or(os.Getenv("ADDR"), "127.0.0.1:9000")

	mux := http.NewServeMux()
	mux.Handle("/webhooks/hookd", hookd.Handler(secret, func(ctx context.Context, e *hookd.Envelope) error {
		// e.Meta.DeliveryID (= the webhook-id header) is the same on every retry: use it to deduplicate.
		fmt.Printf("received type=%s event=%s delivery=%s attempt=%d subject=%s data=%s\n",
			e.Type, e.ID, e.Meta.DeliveryID, e.Meta.Attempt, e.Subject, e.Data)
		// Returning an error answers 500 and hookd retries later; hookd.ErrAccepted answers 202
		// (async_status webhooks), to be finished with hookd.CompleteAction(ctx, e.Meta.Link, ...).
		return nil
	}))
	srv := &http.Server{
		Addr:              addr,
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	log.Printf("listening on http://%s/webhooks/hookd", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
