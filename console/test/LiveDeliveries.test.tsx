import { render, screen, waitFor } from "@testing-library/preact";
import { useState } from "preact/hooks";
import { describe, expect, it, vi } from "vitest";
import { Code, ConnectError, DeliveryChange, DeliveryStatus, type Delivery } from "@hookd/client";
import { LiveNotice, mergeDelivery, POLL_MS, useLiveDeliveries } from "../src/screens/Logs";

const d = (id: string, status = DeliveryStatus.QUEUED) => ({ id, status, webhookName: "" }) as unknown as Delivery;

type Watch = (req: unknown, opts: { signal: AbortSignal; timeoutMs: number }) => AsyncIterable<{ delivery?: Delivery; change: DeliveryChange }>;

function Live(props: { watch: Watch; refresh: () => void }) {
  const [items, setItems] = useState<Delivery[]>([]);
  const [client] = useState(() => ({ deliveries: { watchDeliveries: props.watch } })); // stable, like the session's
  const mode = useLiveDeliveries(client as never, { statuses: [], webhookId: "", integrationId: "", eventType: "", subject: "" }, "k", true,
    (x) => setItems((cur) => mergeDelivery(cur, x, 50)), props.refresh);
  return (
    <div>
      <LiveNotice mode={mode} />
      <ul>{items.map((x) => <li key={x.id}>{`${x.id}:${DeliveryStatus[x.status]}`}</li>)}</ul>
    </div>
  );
}

describe("live deliveries", () => {
  it("merges every change streamed by WatchDeliveries (heartbeats carry none)", async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    const watch = vi.fn<Watch>(async function* (_req, opts) {
      expect(opts.timeoutMs).toBeGreaterThanOrEqual(3_600_000); // not the client's 30 s default
      yield { delivery: d("dlv_1"), change: DeliveryChange.CREATED };
      yield { change: DeliveryChange.UNSPECIFIED }; // heartbeat
      yield { delivery: d("dlv_2"), change: DeliveryChange.CREATED };
      yield { delivery: d("dlv_1", DeliveryStatus.DONE), change: DeliveryChange.ATTEMPTED };
      await hold;
    });
    const refresh = vi.fn();
    const { unmount } = render(<Live watch={watch} refresh={refresh} />);
    await waitFor(() => expect(screen.getAllByRole("listitem").map((li) => li.textContent)).toEqual(["dlv_2:QUEUED", "dlv_1:DONE"]));
    expect(screen.getByRole("status").textContent).toContain("Live");
    expect(refresh).not.toHaveBeenCalled();
    unmount();
    release();
  });

  it("polls every POLL_MS while the server answers unimplemented", async () => {
    vi.useFakeTimers();
    const watch = vi.fn<Watch>(async function* () {
      throw new ConnectError("WatchDeliveries is not available yet", Code.Unimplemented);
    });
    const refresh = vi.fn();
    const { unmount } = render(<Live watch={watch} refresh={refresh} />);
    await vi.advanceTimersByTimeAsync(10);
    expect(screen.getByRole("status").textContent).toMatch(/refreshing every second/);
    await vi.advanceTimersByTimeAsync(POLL_MS * 3 + 10);
    expect(refresh).toHaveBeenCalledTimes(3);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(watch).toHaveBeenCalledTimes(1); // no reconnecting to a server without the RPC
    unmount();
    vi.useRealTimers();
  });

  it("reconnects after a broken stream, polling meanwhile and refreshing once back", async () => {
    vi.useFakeTimers();
    let calls = 0;
    const watch = vi.fn<Watch>(async function* () {
      if (++calls === 1) throw new ConnectError("connection reset", Code.Unavailable);
      yield { delivery: d("dlv_9"), change: DeliveryChange.CREATED };
      await new Promise(() => {});
    });
    const refresh = vi.fn();
    const { unmount } = render(<Live watch={watch} refresh={refresh} />);
    await vi.advanceTimersByTimeAsync(10);
    expect(screen.getByRole("status").textContent).toMatch(/refreshing/);
    await vi.advanceTimersByTimeAsync(2100); // backoff 2 s, polling meanwhile
    expect(watch).toHaveBeenCalledTimes(2);
    expect(screen.getByRole("status").textContent).toContain("Live");
    const polled = refresh.mock.calls.length;
    expect(polled).toBeGreaterThanOrEqual(2); // two polls and the refresh after reconnecting
    await vi.advanceTimersByTimeAsync(POLL_MS * 3);
    expect(refresh.mock.calls.length).toBe(polled); // polling stopped
    unmount();
    vi.useRealTimers();
  });

  it("keeps a page newest first and its size", () => {
    const page = [d("b"), d("a")];
    expect(mergeDelivery(page, d("c"), 2).map((x) => x.id)).toEqual(["c", "b"]);
    expect(mergeDelivery(page, d("a", DeliveryStatus.FAILED), 2).map((x) => `${x.id}${x.status}`)).toEqual(["b1", `a${DeliveryStatus.FAILED}`]);
  });
});
