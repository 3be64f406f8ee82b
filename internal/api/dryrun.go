package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/render"
	"github.com/hookd/hookd/internal/sender"
	"github.com/hookd/hookd/internal/store"
)

const (
	// dryRunEventTypes is how many of the project's event types lend their sample payloads to a dry run.
	dryRunEventTypes = 100
	// dryRunBudget bounds the time all dry runs of one save may take; beyond it the remaining payloads are
	// skipped (each render is bounded by render.DefaultTimeout on its own).
	dryRunBudget = time.Second
)

// dryRun renders the webhook's templates (body, URL, header values) at save time and refuses one that passes the
// render bounds. A webhook has no event type of its own, so it is rendered with an empty payload and with the
// sample payload of each of the project's event types (up to dryRunEventTypes), as the sender would render it.
// Missing keys render as the empty string, at save time as when sending: they are not errors, and neither are
// other data-dependent errors (an index out of range on a sample): only a render over its bounds is refused.
func (s *webhookService) dryRun(ctx context.Context, w *store.Webhook, in *store.Integration) error {
	type tmpl struct {
		field string
		t     *render.Template
	}
	var ts []tmpl
	if w.BodyTemplate != "" {
		t, err := render.Parse("body_template", w.BodyTemplate)
		if err != nil {
			return apierr.Invalid("body_template", "%v", err)
		}
		ts = append(ts, tmpl{"body_template", t})
	}
	full := sender.FullURL(w, in)
	if render.HasActions(full) {
		field := "url"
		if w.URL == "" {
			field = "path"
		}
		t, err := render.ParseURL(field, full)
		if err != nil {
			return apierr.Invalid(field, "%v", err)
		}
		ts = append(ts, tmpl{field, t})
	}
	for _, h := range sender.Headers(w, in) {
		if !render.HasActions(h.Value) {
			continue
		}
		t, err := render.Parse("header "+h.Name, h.Value)
		if err != nil {
			return apierr.Invalid("headers", "%v", err)
		}
		ts = append(ts, tmpl{"headers", t})
	}
	if len(ts) == 0 {
		return nil
	}
	payloads := []json.RawMessage{json.RawMessage(`{}`)}
	names := []string{"an empty payload"}
	ets, err := s.d.Store.ListEventTypes(ctx, w.ProjectID, store.Page{Size: dryRunEventTypes})
	if err != nil {
		return fmt.Errorf("list event types for the dry run: %w", err)
	}
	for _, et := range ets {
		if len(et.SamplePayload) > 0 {
			payloads, names = append(payloads, et.SamplePayload), append(names, "the sample payload of "+et.Name)
		}
	}
	now := s.d.now()
	deadline := time.Now().Add(dryRunBudget) // wall time on purpose: a budget of CPU work, not a schedule
	for i, p := range payloads {
		if i > 0 && time.Now().After(deadline) {
			break
		}
		vars := render.Vars{
			EventID: "evt_dryrun", EventType: "dry.run", Subject: "subject", TransactionalId: "dlv_dryrun",
			Link: s.d.PublicURL + "/v1/action-status/token", Timestamp: now, Attempt: 1,
		}
		_ = json.Unmarshal(p, &vars.Data)
		for _, t := range ts {
			if _, err := t.t.Execute(ctx, vars); errors.Is(err, render.ErrLimit) {
				return apierr.Invalid(t.field, "%v (dry run on %s)", err, names[i])
			}
		}
	}
	return nil
}
