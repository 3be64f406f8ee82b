// The body template's live preview: rendered by the server (WebhookService.RenderWebhookBody, the sender's
// own Go text/template code) on the chosen event type's sample payload, so what you see is what is sent.
// Template errors come back as invalid_argument naming body_template and are shown under the editor.
import { useEffect, useState } from "preact/hooks";
import type { HookdClient } from "@hookd/client";
import { apiError, type ApiError } from "../api";

/** How long typing must pause before the preview is rendered again. */
export const PREVIEW_DEBOUNCE_MS = 250;

export interface PreviewState {
  body: string;
  truncated: boolean;
  err: ApiError | null;
  loading: boolean;
}

/** Renders template on the event type's sample payload, debounced; stale answers are dropped. */
export function useBodyPreview(
  client: Pick<HookdClient, "webhooks">,
  template: string,
  eventType: string,
  enabled: boolean,
  samplePayload: Record<string, unknown> | undefined,
): PreviewState {
  const [state, setState] = useState<PreviewState>({ body: "", truncated: false, err: null, loading: false });
  useEffect(() => {
    if (!enabled) return;
    if (!template) {
      // The default envelope: no template to render.
      setState({ body: defaultEnvelope(eventType, samplePayload), truncated: false, err: null, loading: false });
      return;
    }
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    const t = setTimeout(() => {
      client.webhooks
        .renderWebhookBody({ bodyTemplate: template, eventType, subject: "cus_preview" }, { signal: ctl.signal })
        .then(
          (r) => !ctl.signal.aborted && setState({ body: r.body, truncated: r.truncated, err: null, loading: false }),
          (e) => !ctl.signal.aborted && setState({ body: "", truncated: false, err: apiError(e), loading: false }),
        );
    }, PREVIEW_DEBOUNCE_MS);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [client, template, eventType, enabled]);
  return state;
}

/** The envelope sent without a template (values the sender fills in are shown as placeholders). */
export function defaultEnvelope(eventType: string, data: Record<string, unknown> | undefined): string {
  return JSON.stringify(
    {
      id: "evt_…",
      type: eventType || "webhook.test",
      timestamp: "…",
      subject: "cus_preview",
      data: data ?? null,
      meta: { deliveryId: "dlv_…", attempt: 1, link: "…/v1/action-status/…" },
    },
    null,
    2,
  );
}

/** The preview pane. */
export function BodyPreview(props: { state: PreviewState; template: string; eventType: string; canRender: boolean }) {
  const { state } = props;
  return (
    <div class="preview" aria-live="polite">
      <div class="preview-head">
        <strong>Preview</strong>{" "}
        <span class="muted">
          {props.template
            ? props.eventType
              ? `rendered on the sample payload of ${props.eventType}`
              : "rendered with empty data (pick an event type for its sample payload)"
            : "the default envelope (no template)"}
          {state.loading && " · rendering…"}
        </span>
      </div>
      {!props.canRender && props.template ? (
        <p class="muted">The preview needs a MEMBER or ADMIN key.</p>
      ) : state.err ? (
        <p class="muted">Fix the template error to see the preview.</p>
      ) : (
        <pre class="code" data-testid="preview-body">
          {state.body}
          {state.truncated && "\n… (cut at 64 KiB)"}
        </pre>
      )}
    </div>
  );
}
