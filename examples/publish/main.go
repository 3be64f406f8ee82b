// Command publish publishes one event to hookd with the Go SDK.
//
//	HOOKD_URL=http://127.0.0.1:8080 HOOKD_API_KEY=hk_... go run ./examples/publish \
//	  -type user.created -subject cus_42 -key signup-42 -data '{"email":"ada@example.com"}'
//
// It prints the event id and one line per delivery created. Publishing again with the same -key
// within 24 h returns the first result and sends nothing new.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	hookd "github.com/hookd/hookd/sdk/go"
)

func main() {
	eventType := flag.String("type", "user.created", "event type name (must exist)")
	subject := flag.String("subject", "", "customer or user the event is about")
	key := flag.String("key", "", "idempotency key (makes the call safe to retry)")
	data := flag.String("data", `{}`, "payload as a JSON object")
	flag.Parse()

	var fields map[string]any
	if err := json.Unmarshal([]byte(*data), &fields); err != nil {
		log.Fatalf("-data: %v", err)
	}
	payload, err := structpb.NewStruct(fields)
	if err != nil {
		log.Fatalf("-data: %v", err)
	}

	client := hookd.NewClient(cmp.Or(os.Getenv("HOOKD_URL"), "http://127.0.0.1:8080"), os.Getenv("HOOKD_API_KEY"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := client.Events.PublishEvent(ctx, connect.NewRequest(&hookdv1.PublishEventRequest{
		EventType:      *eventType,
		Subject:        *subject,
		IdempotencyKey: *key,
		Payload:        payload,
	}))
	if err != nil {
		// Connect errors carry a code: invalid_argument names the bad field, not_found an unknown event type.
		log.Fatalf("publish (%s): %v", connect.CodeOf(err), err)
	}
	fmt.Printf("event %s\n", res.Msg.GetEvent().GetId())
	for _, id := range res.Msg.GetDeliveryIds() {
		fmt.Printf("delivery %s\n", id)
	}
}
