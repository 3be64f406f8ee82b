import { fireEvent, render, screen } from "@testing-library/preact";
import { describe, expect, it, vi } from "vitest";
import { DeliveryStatus, type EventType, type Integration, type Webhook } from "@hookd/client";
import { EMPTY_FILTER, FilterBar, filterFromQuery, filterToQuery, toDeliveryFilter, type LogFilter } from "../src/screens/FilterBar";
import { resendable } from "../src/screens/Logs";

const webhooks = [{ id: "wh_1", name: "Orders" }, { id: "wh_2", name: "CRM" }] as Webhook[];
const integrations = [{ id: "int_1", name: "Shop" }] as Integration[];
const eventTypes = [{ name: "order.paid" }, { name: "user.created" }] as EventType[];

function setup(value: LogFilter = EMPTY_FILTER) {
  const onChange = vi.fn<(f: LogFilter) => void>();
  const r = render(<FilterBar value={value} onChange={onChange} webhooks={webhooks} integrations={integrations} eventTypes={eventTypes} />);
  return { onChange, ...r };
}

describe("filter bar", () => {
  it("offers every ListDeliveries filter", () => {
    setup();
    for (const s of ["Queued", "Retrying", "Waiting", "Done", "Failed", "Cancelled"]) expect(screen.getByLabelText(s)).toBeTruthy();
    for (const l of ["Webhook", "Integration", "Event type", "Customer", "Created"]) expect(screen.getByLabelText(l)).toBeTruthy();
    expect(screen.getByRole("search", { name: "Filter deliveries" })).toBeTruthy();
    expect(screen.queryByText("Clear filters")).toBeNull();
  });

  it("reports each change as a whole filter", () => {
    const { onChange } = setup();
    fireEvent.click(screen.getByLabelText("Failed"));
    expect(onChange).toHaveBeenLastCalledWith({ ...EMPTY_FILTER, statuses: [DeliveryStatus.FAILED] });
    fireEvent.change(screen.getByLabelText("Webhook"), { target: { value: "wh_2" } });
    expect(onChange).toHaveBeenLastCalledWith({ ...EMPTY_FILTER, webhookId: "wh_2" });
    fireEvent.change(screen.getByLabelText("Integration"), { target: { value: "int_1" } });
    expect(onChange).toHaveBeenLastCalledWith({ ...EMPTY_FILTER, integrationId: "int_1" });
    fireEvent.change(screen.getByLabelText("Event type"), { target: { value: "order.paid" } });
    expect(onChange).toHaveBeenLastCalledWith({ ...EMPTY_FILTER, eventType: "order.paid" });
    fireEvent.change(screen.getByLabelText("Customer"), { target: { value: "  cus_42 " } });
    expect(onChange).toHaveBeenLastCalledWith({ ...EMPTY_FILTER, subject: "cus_42" });
    fireEvent.change(screen.getByLabelText("Created"), { target: { value: "24h" } });
    expect(onChange).toHaveBeenLastCalledWith({ ...EMPTY_FILTER, range: "24h" });
  });

  it("unchecks a status and clears everything", () => {
    const value = { ...EMPTY_FILTER, statuses: [DeliveryStatus.FAILED, DeliveryStatus.DONE], subject: "cus_1" };
    const { onChange } = setup(value);
    expect((screen.getByLabelText("Failed") as HTMLInputElement).checked).toBe(true);
    expect((screen.getByLabelText("Customer") as HTMLInputElement).value).toBe("cus_1");
    fireEvent.click(screen.getByLabelText("Failed"));
    expect(onChange).toHaveBeenLastCalledWith({ ...value, statuses: [DeliveryStatus.DONE] });
    fireEvent.click(screen.getByText("Clear filters"));
    expect(onChange).toHaveBeenLastCalledWith(EMPTY_FILTER);
  });

  it("shows from/until for a custom range", () => {
    const { onChange } = setup({ ...EMPTY_FILTER, range: "custom" });
    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-03-01T10:00" } });
    expect(onChange).toHaveBeenLastCalledWith({ ...EMPTY_FILTER, range: "custom", after: "2026-03-01T10:00" });
    expect(screen.getByLabelText("Until")).toBeTruthy();
  });

  it("converts to the API's DeliveryFilter", () => {
    const now = new Date("2026-03-01T12:00:00Z");
    const f: LogFilter = { ...EMPTY_FILTER, statuses: [DeliveryStatus.FAILED], webhookId: "wh_1", eventType: "order.paid", subject: "cus_42", range: "1h" };
    expect(toDeliveryFilter(f, now)).toEqual({
      statuses: [DeliveryStatus.FAILED], webhookId: "wh_1", integrationId: "", eventType: "order.paid", subject: "cus_42",
      createTimeAfter: { seconds: BigInt(Date.parse("2026-03-01T11:00:00Z") / 1000), nanos: 0 },
    });
    const custom = toDeliveryFilter({ ...EMPTY_FILTER, range: "custom", after: "2026-03-01T10:00:00Z", before: "2026-03-01T11:30:00Z" }, now);
    expect(custom.createTimeAfter).toEqual({ seconds: BigInt(Date.parse("2026-03-01T10:00:00Z") / 1000), nanos: 0 });
    expect(custom.createTimeBefore).toEqual({ seconds: BigInt(Date.parse("2026-03-01T11:30:00Z") / 1000), nanos: 0 });
    expect(toDeliveryFilter(EMPTY_FILTER, now).createTimeAfter).toBeUndefined();
  });

  it("round-trips through the query string", () => {
    const f: LogFilter = { statuses: [DeliveryStatus.DONE, DeliveryStatus.FAILED], webhookId: "wh_1", integrationId: "int_1", eventType: "order.paid", subject: "a b&c", range: "custom", after: "2026-03-01T10:00", before: "" };
    const q = filterToQuery(f);
    expect(q).toBe("status=done&status=failed&webhook=wh_1&integration=int_1&event_type=order.paid&subject=a+b%26c&range=custom&after=2026-03-01T10%3A00");
    expect(filterFromQuery("?" + q)).toEqual(f);
    expect(filterFromQuery("?status=bogus&range=forever")).toEqual(EMPTY_FILTER);
    expect(filterToQuery(EMPTY_FILTER)).toBe("");
  });

  it("bulk resend counts only what RetryDeliveries resends", () => {
    expect(resendable([])).toEqual([DeliveryStatus.FAILED]);
    expect(resendable([DeliveryStatus.DONE, DeliveryStatus.QUEUED])).toEqual([DeliveryStatus.DONE]);
    expect(resendable([DeliveryStatus.QUEUED])).toEqual([]);
  });
});
