// The subscription filter's live "would match" check: the filter evaluated by TestSubscriptionFilter against the
// sample payload of an event type, as the user types (debounced; stale answers dropped).
import { useEffect, useState } from "preact/hooks";
import type { JsonObject } from "@hookd/client";

/** How long typing must pause before the filter is checked. */
export const FILTER_CHECK_DEBOUNCE_MS = 300;

type Test = (req: { filter: string; eventType: string; payload?: JsonObject; subject: string }, opts?: { signal?: AbortSignal }) =>
  Promise<{ matched: boolean; error: string }>;

/** The state of a check: nothing to check yet, waiting, or the server's answer (or a failed call). */
export type FilterCheckState = { kind: "idle" } | { kind: "busy" } | { kind: "done"; matched: boolean; error: string };

/** useFilterCheck checks filter against the sample payload of eventType whenever either changes. */
export function useFilterCheck(client: { subscriptions: { testSubscriptionFilter: Test } }, filter: string, eventType: string,
  payload: JsonObject | undefined, subject: string): FilterCheckState {
  const [state, setState] = useState<FilterCheckState>({ kind: "idle" });
  useEffect(() => {
    if (!filter.trim()) {
      setState({ kind: "idle" });
      return;
    }
    setState({ kind: "busy" });
    const ctl = new AbortController();
    const t = setTimeout(() => {
      client.subscriptions.testSubscriptionFilter({ filter, eventType, payload, subject }, { signal: ctl.signal }).then(
        (r) => !ctl.signal.aborted && setState({ kind: "done", matched: r.matched, error: r.error }),
        (e: unknown) => !ctl.signal.aborted && setState({ kind: "done", matched: false, error: e instanceof Error ? e.message : String(e) }),
      );
    }, FILTER_CHECK_DEBOUNCE_MS);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [filter, eventType, JSON.stringify(payload ?? {}), subject]);
  return state;
}

/** FilterCheck shows a check's answer. */
export function FilterCheck(props: { state: FilterCheckState; eventType: string }) {
  const s = props.state;
  const sample = props.eventType ? <>the sample payload of <code>{props.eventType}</code></> : "an empty payload";
  if (s.kind === "idle") return null;
  if (s.kind === "busy") return <p class="hint" data-testid="filter-check">Checking…</p>;
  if (s.error) {
    return (
      <p class="field-error" role="alert" data-testid="filter-check">
        {s.error}
      </p>
    );
  }
  return (
    <p class={s.matched ? "ok" : "muted"} data-testid="filter-check">
      {s.matched ? "Would match" : "Would not match"} {sample}.
    </p>
  );
}
