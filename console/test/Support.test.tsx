// Issue 27: what a support person needs to read on screen.
import { fireEvent, render, screen } from "@testing-library/preact";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SignatureScheme, type Trigger } from "@hookd/client";
import { fmtTime, fmtZone } from "../src/api";
import { EMPTY_FILTER, FilterBar, SUBJECT_DEBOUNCE_MS, type LogFilter } from "../src/screens/FilterBar";
import { answerSummary, checkSummary } from "../src/screens/Triggers";

const at = (offsetMin: number) => ({ getTimezoneOffset: () => offsetMin }) as Date;

describe("times", () => {
  it("name their zone", () => {
    expect(fmtZone(at(0))).toBe("UTC");
    expect(fmtZone(at(-120))).toBe("UTC+2");
    expect(fmtZone(at(-330))).toBe("UTC+5:30");
    expect(fmtZone(at(210))).toBe("UTC-3:30");
    expect(fmtTime(new Date(Date.UTC(2026, 2, 1, 12, 0, 5)))).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC([+-]\d+(:\d\d)?)?$/);
  });
});

describe("trigger summaries", () => {
  const plain = { response: undefined, sync: false, routes: [], apiKeyHeader: "", signature: undefined, maxBodyBytes: 0n, dropHeaders: [], dropQueryParameters: [] } as unknown as Trigger;
  it("say what a caller gets back", () => {
    expect(answerSummary(plain)).toBe("200 (default)");
    expect(answerSummary({ ...plain, response: { status: 201, contentType: "text/plain", body: "thanks" } } as Trigger)).toBe("201 thanks");
    expect(answerSummary({ ...plain, sync: true } as Trigger)).toMatch(/^303/);
  });
  it("say which checks a request passes", () => {
    expect(checkSummary(plain)).toBe("");
    const t = { ...plain, apiKeyHeader: "X-Key", signature: { scheme: SignatureScheme.HMAC_SHA256 }, maxBodyBytes: 4096n, dropHeaders: ["Cookie"], dropQueryParameters: ["token"] } as unknown as Trigger;
    expect(checkSummary(t)).toBe("key in X-Key · HMAC-SHA256 of the body in a header · body ≤ 4096 B · drops Cookie, ?token");
  });
});

describe("the Logs customer filter", () => {
  afterEach(() => vi.useRealTimers());
  it("applies while typing, after a pause", () => {
    vi.useFakeTimers();
    const onChange = vi.fn<(f: LogFilter) => void>();
    render(<FilterBar value={EMPTY_FILTER} onChange={onChange} webhooks={[]} integrations={[]} eventTypes={[]} subjects={["cus_7", "cus_8"]} />);
    fireEvent.input(screen.getByLabelText("Customer"), { target: { value: "cus_7 " } });
    expect(onChange).not.toHaveBeenCalled();
    vi.advanceTimersByTime(SUBJECT_DEBOUNCE_MS);
    expect(onChange).toHaveBeenLastCalledWith({ ...EMPTY_FILTER, subject: "cus_7" });
    expect(document.querySelectorAll("datalist option").length).toBe(2);
  });
});
