import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { describe, expect, it, vi } from "vitest";
import { DeliveryStatus, type Delivery } from "@hookd/client";
import { SessionContext, type Session } from "../src/api";
import { Queue } from "../src/screens/Queue";

const head = { id: "dlv_head", status: DeliveryStatus.RETRYING, attempts: 7, retries: 6, webhookName: "Orders", orderingKey: "order-1", blockedBy: "" };
const held = { id: "dlv_next", status: DeliveryStatus.QUEUED, attempts: 0, retries: 0, webhookName: "Orders", orderingKey: "order-1", blockedBy: "dlv_head" };

describe("queue", () => {
  it("shows what a held delivery waits for and filters the blocked keys", async () => {
    const listDeliveries = vi.fn(async (req: { blocked: boolean }) => ({
      deliveries: (req.blocked ? [head] : [head, held]) as unknown as Delivery[],
      nextPageToken: "",
    }));
    const session = { client: { deliveries: { listDeliveries } } } as unknown as Session;
    render(
      <SessionContext.Provider value={session}>
        <Queue />
      </SessionContext.Provider>,
    );
    await waitFor(() => expect(screen.getByText("dlv_next")).toBeTruthy());
    const waitsFor = screen.getAllByRole("link", { name: "dlv_head" }).filter((a) => a.getAttribute("title") === "ordering key order-1");
    expect(waitsFor).toHaveLength(1);
    expect(listDeliveries).toHaveBeenLastCalledWith(expect.objectContaining({ queue: true, blocked: false }));

    fireEvent.click(screen.getByLabelText("Blocked keys only"));
    await waitFor(() => expect(listDeliveries).toHaveBeenLastCalledWith(expect.objectContaining({ queue: true, blocked: true })));
    await waitFor(() => expect(screen.queryByText("dlv_next")).toBeNull());
    expect(screen.getByText("dlv_head")).toBeTruthy();
  });
});
