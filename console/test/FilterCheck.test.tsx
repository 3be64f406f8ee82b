import { render, screen, waitFor } from "@testing-library/preact";
import { useState } from "preact/hooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FILTER_CHECK_DEBOUNCE_MS, FilterCheck, useFilterCheck } from "../src/screens/FilterCheck";

type Test = (req: { filter: string; eventType: string; payload?: Record<string, unknown>; subject: string }) => Promise<{ matched: boolean; error: string }>;

/** The subscription editor's filter section: a filter field and its live check on a sample payload. */
function Editor(props: { client: { subscriptions: { testSubscriptionFilter: Test } }; initial: string }) {
  const [filter, setFilter] = useState(props.initial);
  const state = useFilterCheck(props.client as never, filter, "order.paid", { amount: 150 }, "");
  return (
    <div>
      <FilterCheck state={state} eventType="order.paid" />
      <button onClick={() => setFilter("data.amount > 200")}>change</button>
    </div>
  );
}

afterEach(() => vi.useRealTimers());

describe("subscription filter check", () => {
  it("asks TestSubscriptionFilter with the event type's sample payload and shows would match", async () => {
    const testSubscriptionFilter = vi.fn<Test>(async (req) => ({ matched: (req.payload?.amount as number) > 100, error: "" }));
    render(<Editor client={{ subscriptions: { testSubscriptionFilter } }} initial="data.amount > 100" />);
    await waitFor(() => expect(screen.getByTestId("filter-check").textContent).toBe("Would match the sample payload of order.paid."));
    expect(testSubscriptionFilter.mock.calls[0][0]).toMatchObject({ filter: "data.amount > 100", eventType: "order.paid", payload: { amount: 150 } });
  });

  it("asks once per pause in typing and shows would not match", async () => {
    vi.useFakeTimers();
    const testSubscriptionFilter = vi.fn<Test>(async (req) => ({ matched: req.filter === "data.amount > 100", error: "" }));
    render(<Editor client={{ subscriptions: { testSubscriptionFilter } }} initial="data.amount > 100" />);
    await vi.advanceTimersByTimeAsync(FILTER_CHECK_DEBOUNCE_MS - 50);
    screen.getByText("change").click();
    await vi.advanceTimersByTimeAsync(FILTER_CHECK_DEBOUNCE_MS + 10);
    expect(testSubscriptionFilter).toHaveBeenCalledTimes(1);
    expect(testSubscriptionFilter.mock.calls[0][0].filter).toBe("data.amount > 200");
    vi.useRealTimers();
    await waitFor(() => expect(screen.getByTestId("filter-check").textContent).toBe("Would not match the sample payload of order.paid."));
  });

  it("shows CEL's message for an invalid filter", async () => {
    const testSubscriptionFilter = vi.fn<Test>(async () => ({ matched: false, error: "ERROR: <input>:1:14: Syntax error" }));
    render(<Editor client={{ subscriptions: { testSubscriptionFilter } }} initial="data.amount >" />);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("Syntax error");
  });
});
