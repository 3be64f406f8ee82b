import { render, screen, waitFor } from "@testing-library/preact";
import { useState } from "preact/hooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import { invalidArgument } from "@hookd/client";
import { BodyPreview, defaultEnvelope, PREVIEW_DEBOUNCE_MS, useBodyPreview } from "../src/screens/BodyPreview";
import { TextArea } from "../src/ui";

type Render = (req: { bodyTemplate: string; eventType: string }, opts?: { signal?: AbortSignal }) => Promise<{ body: string; truncated: boolean }>;

/** The editor's body section: a template field showing the preview's error inline, and the preview. */
function Editor(props: { client: { webhooks: { renderWebhookBody: Render } }; initial: string; eventType: string }) {
  const [tpl, setTpl] = useState(props.initial);
  const state = useBodyPreview(props.client as never, tpl, props.eventType, true, { email: "ada@example.com" });
  return (
    <div>
      <TextArea label="Body template" name="body_template" err={state.err} value={tpl} onValue={setTpl} />
      <BodyPreview state={state} template={tpl} eventType={props.eventType} canRender />
      <button onClick={() => setTpl("{{.Data.email}}!")}>change</button>
    </div>
  );
}

afterEach(() => vi.useRealTimers());

describe("body template preview", () => {
  it("renders through RenderWebhookBody on the event type's sample payload, debounced", async () => {
    const renderWebhookBody = vi.fn<Render>(async (req) => ({ body: `rendered ${req.bodyTemplate} for ${req.eventType}`, truncated: false }));
    render(<Editor client={{ webhooks: { renderWebhookBody } }} initial="{{.Data.email}}" eventType="user.created" />);
    expect(renderWebhookBody).not.toHaveBeenCalled(); // waits for typing to pause
    await waitFor(() => expect(screen.getByTestId("preview-body").textContent).toBe("rendered {{.Data.email}} for user.created"));
    expect(renderWebhookBody).toHaveBeenCalledTimes(1);
    expect(renderWebhookBody.mock.calls[0][0]).toMatchObject({ bodyTemplate: "{{.Data.email}}", eventType: "user.created" });
    expect(screen.getByText(/rendered on the sample payload of user.created/)).toBeTruthy();
  });

  it("asks once per pause in typing and drops stale answers", async () => {
    vi.useFakeTimers();
    const renderWebhookBody = vi.fn<Render>(async (req) => ({ body: `got ${req.bodyTemplate}`, truncated: false }));
    render(<Editor client={{ webhooks: { renderWebhookBody } }} initial="a" eventType="" />);
    await vi.advanceTimersByTimeAsync(PREVIEW_DEBOUNCE_MS - 50);
    screen.getByText("change").click();
    await vi.advanceTimersByTimeAsync(PREVIEW_DEBOUNCE_MS + 10);
    expect(renderWebhookBody).toHaveBeenCalledTimes(1);
    expect(renderWebhookBody.mock.calls[0][0].bodyTemplate).toBe("{{.Data.email}}!");
    vi.useRealTimers();
    await waitFor(() => expect(screen.getByTestId("preview-body").textContent).toBe("got {{.Data.email}}!"));
  });

  it("shows the server's template error under the template field", async () => {
    const renderWebhookBody = vi.fn<Render>(async () => {
      throw invalidArgument("body_template", "parse template: template: body_template:1: unclosed action");
    });
    render(<Editor client={{ webhooks: { renderWebhookBody } }} initial="{{.Data.email" eventType="user.created" />);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toBe("parse template: template: body_template:1: unclosed action");
    expect(alert.closest(".field")!.querySelector("textarea")!.getAttribute("aria-invalid")).toBe("true");
    expect(screen.queryByTestId("preview-body")).toBeNull();
    expect(screen.getByText("Fix the template error to see the preview.")).toBeTruthy();
  });

  it("shows the default envelope without asking the server when there is no template", async () => {
    const renderWebhookBody = vi.fn<Render>();
    render(<Editor client={{ webhooks: { renderWebhookBody } }} initial="" eventType="user.created" />);
    await waitFor(() => expect(screen.getByTestId("preview-body").textContent).toBe(defaultEnvelope("user.created", { email: "ada@example.com" })));
    expect(JSON.parse(screen.getByTestId("preview-body").textContent!).data).toEqual({ email: "ada@example.com" });
    expect(renderWebhookBody).not.toHaveBeenCalled();
  });

  it("says when the body was cut", async () => {
    const renderWebhookBody = vi.fn<Render>(async () => ({ body: "x".repeat(10), truncated: true }));
    render(<Editor client={{ webhooks: { renderWebhookBody } }} initial="{{.}}" eventType="" />);
    await waitFor(() => expect(screen.getByTestId("preview-body").textContent).toContain("cut at 64 KiB"));
    expect(screen.getByText(/rendered with empty data/)).toBeTruthy();
  });
});
