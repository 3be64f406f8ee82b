package sender

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestAppendEnvelope: the hand-written envelope is byte for byte what encoding/json makes of the same fields.
func TestAppendEnvelope(t *testing.T) {
	type meta struct {
		DeliveryID string `json:"deliveryId"`
		Attempt    int    `json:"attempt"`
		Link       string `json:"link"`
	}
	type envelope struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Subject   string          `json:"subject"`
		Data      json.RawMessage `json:"data"`
		Meta      meta            `json:"meta"`
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC)
	for _, tt := range []struct{ subject, payload, link string }{
		{"cus_1", `{"a":1,"b":[true,null],"c":"x"}`, "https://h/v1/action-status/dlv_1.0.abc"},
		{"", `{}`, ""},
		{"<b>&amp;</b>", `{"html":"<script>&</script>","ls":"\u2028\u2029"}`, "https://h/?a=1&b=2"},
		{"ünïcode \x01 \"quoted\" \\", `{"é":"ü"}`, ""},
		{"x", ``, ""},
		{"x", `[1,2]`, ""},
	} {
		m := message{msgID: "dlv_01abc", eventID: "evt_01abc", eventType: "user.created", subject: tt.subject,
			payload: json.RawMessage(tt.payload), createTime: at, attempt: 3, link: tt.link}
		data := json.RawMessage(tt.payload)
		if len(data) == 0 {
			data = json.RawMessage("null")
		}
		want, err := json.Marshal(envelope{ID: m.eventID, Type: m.eventType, Timestamp: at.Format(time.RFC3339Nano), Subject: m.subject,
			Data: data, Meta: meta{DeliveryID: m.msgID, Attempt: m.attempt, Link: m.link}})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendEnvelope(nil, m); string(got) != string(want) {
			t.Errorf("appendEnvelope:\n got %s\nwant %s", got, want)
		}
	}
}

// TestPayloadSpan: the stored attempt refers to the event's payload only where the envelope holds it byte for
// byte.
func TestPayloadSpan(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	long := `{"order":"` + strings.Repeat("x", 100) + `"}`
	for _, tt := range []struct {
		name, subject, payload string
		cut                    int // the stored copy is cut to this many bytes (0: whole)
		want                   bool
	}{
		{name: "default envelope", subject: "cus_1", payload: long, want: true},
		{name: "a subject that looks like the data member", subject: `x","data":{"order":"`, payload: long, want: true},
		{name: "HTML-escaped payload", payload: `{"html":"<b>` + strings.Repeat("x", 100) + `</b>"}`},
		{name: "small payload", payload: `{"a":1}`},
		{name: "stored copy cut in the payload", payload: long, cut: 60},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := message{msgID: "dlv_01abc", eventID: "evt_01abc", eventType: "user.created", subject: tt.subject,
				payload: json.RawMessage(tt.payload), createTime: at, attempt: 1}
			stored := string(appendEnvelope(nil, m))
			if tt.cut > 0 {
				stored = stored[:tt.cut]
			}
			i, n := payloadSpan(stored, m.payload)
			if !tt.want {
				if n != 0 {
					t.Fatalf("payloadSpan = %d, %d; want none", i, n)
				}
				return
			}
			if n != len(tt.payload) || stored[i:i+n] != tt.payload {
				t.Fatalf("payloadSpan = %d, %d: %q is not the payload", i, n, stored[i:min(i+n, len(stored))])
			}
		})
	}
}
