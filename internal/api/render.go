package api

import (
	"context"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"connectrpc.com/connect"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/render"
	"github.com/hookd/hookd/internal/store"
)

// Placeholders of RenderWebhookBody for the values a real delivery fills in.
const (
	// PreviewEventID is `.EventID` in a preview.
	PreviewEventID = "evt_preview"
	// PreviewTransactionalID is `.TransactionalId` (the delivery id) in a preview.
	PreviewTransactionalID = "dlv_preview"
	// maxPreviewBytes caps the body a preview returns.
	maxPreviewBytes = 64 << 10
)

// RenderWebhookBody implements hookdv1connect.WebhookServiceHandler.
func (s *webhookService) RenderWebhookBody(ctx context.Context, req *connect.Request[hookdv1.RenderWebhookBodyRequest]) (*connect.Response[hookdv1.RenderWebhookBodyResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	text := req.Msg.GetBodyTemplate()
	switch {
	case text == "":
		return nil, apierr.Invalid("body_template", "is required (an empty template sends the default envelope)")
	case len(text) > maxTemplateLen:
		return nil, apierr.Invalid("body_template", "is longer than %d bytes", maxTemplateLen)
	}
	tmpl, err := render.Parse("body_template", text)
	if err != nil {
		return nil, apierr.Invalid("body_template", "%v", err)
	}
	var payload []byte
	eventType := req.Msg.GetEventType()
	switch {
	case req.Msg.GetPayload() != nil:
		if payload, err = compactJSON(req.Msg.GetPayload()); err != nil {
			return nil, apierr.Invalid("payload", "cannot be encoded as JSON: %v", err)
		}
		if len(payload) > s.d.maxPayload() {
			return nil, apierr.Invalid("payload", "is %d bytes of JSON; the limit is %d", len(payload), s.d.maxPayload())
		}
	case eventType != "":
		var et *store.EventType
		if et, err = s.d.Store.GetEventTypeByName(ctx, p.ProjectID, eventType); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, apierr.Invalid("event_type", "event type %q not found", eventType)
			}
			return nil, apierr.About("event type", eventType, err)
		}
		payload = et.SamplePayload
	}
	if eventType == "" {
		eventType = TestEventType
	}
	vars := render.Vars{
		EventID: PreviewEventID, EventType: eventType, Subject: req.Msg.GetSubject(),
		TransactionalId: PreviewTransactionalID, Link: s.d.PublicURL + "/v1/action-status/preview",
		Timestamp: s.d.now(), Attempt: 1,
	}
	_ = json.Unmarshal(payload, &vars.Data) // as the sender: a payload that is not an object leaves Data empty
	body, err := tmpl.Execute(ctx, vars)
	if err != nil {
		return nil, apierr.Invalid("body_template", "%v", err)
	}
	out := &hookdv1.RenderWebhookBodyResponse{Body: body}
	if len(body) > maxPreviewBytes {
		cut := maxPreviewBytes
		for cut > 0 && !utf8.RuneStart(body[cut]) {
			cut--
		}
		out.Body, out.Truncated = body[:cut], true
	}
	return connect.NewResponse(out), nil
}
