package strictjson_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/strictjson"
)

// deliveries answers RetryDeliveries with the number of statuses it was given.
type deliveries struct {
	hookdv1connect.UnimplementedDeliveryServiceHandler
}

func (deliveries) RetryDeliveries(_ context.Context, req *connect.Request[hookdv1.RetryDeliveriesRequest]) (*connect.Response[hookdv1.RetryDeliveriesResponse], error) {
	return connect.NewResponse(&hookdv1.RetryDeliveriesResponse{Count: int32(len(req.Msg.GetFilter().GetStatuses()))}), nil
}

func TestUnknownFieldsAndEnumNames(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle(hookdv1connect.NewDeliveryServiceHandler(deliveries{}, strictjson.HandlerOptions()...))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	post := func(body, contentType string) (int, string) {
		t.Helper()
		res, err := http.Post(srv.URL+hookdv1connect.DeliveryServiceRetryDeliveriesProcedure, contentType, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	cases := []struct {
		body, wantIn string
		status       int
	}{
		{`{"filter":{"statuses":["DELIVERY_STATUS_FAILED"]}}`, `"count":1`, http.StatusOK},
		{`{}`, `{"count":0}`, http.StatusOK}, // zero values are written
		{`{"filter":{}}`, `{"count":0}`, http.StatusOK},
		{`{"filter":{"statuses":["FAILED"]}}`, `statuses`, http.StatusBadRequest},
		{`{"filter":{"status":["DELIVERY_STATUS_FAILED"]}}`, `unknown field \"status\"`, http.StatusBadRequest},
		{`{"filtr":{}}`, `unknown field \"filtr\"`, http.StatusBadRequest},
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8"} {
		for _, c := range cases {
			status, body := post(c.body, ct)
			if status != c.status || !strings.Contains(body, c.wantIn) {
				t.Errorf("%s %s: %d %s; want %d containing %s", ct, c.body, status, body, c.status, c.wantIn)
			}
			if status == http.StatusBadRequest && !strings.Contains(body, `"code":"invalid_argument"`) {
				t.Errorf("%s: %s, want invalid_argument", c.body, body)
			}
		}
	}
	// The Connect Go client (binary protobuf) is unaffected, and so is a JSON client.
	client := hookdv1connect.NewDeliveryServiceClient(srv.Client(), srv.URL, connect.WithProtoJSON())
	res, err := client.RetryDeliveries(context.Background(), connect.NewRequest(&hookdv1.RetryDeliveriesRequest{
		Filter: &hookdv1.DeliveryFilter{Statuses: []hookdv1.DeliveryStatus{hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE}}}))
	if err != nil || res.Msg.GetCount() != 1 {
		t.Fatalf("JSON client: %v, %v", res, err)
	}
}
