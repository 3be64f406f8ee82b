// Small building blocks shared by the screens: fields with their API error, pages with tokens, empty states,
// dialogs, copy buttons, status badges, header editors.
import type { ComponentChildren, InputHTMLAttributes } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { DeliveryStatus } from "@hookd/client";
import { apiError, errorFor, MASKED, STATUS_LABEL, type ApiError } from "./api";

let nextId = 0;
/** A stable id for label/input pairs. */
export function useId(prefix = "f"): string {
  const ref = useRef<string>();
  if (!ref.current) ref.current = `${prefix}${++nextId}`;
  return ref.current;
}

/** A labelled control with a hint and the API's error for `name` below it. */
export function Field(props: {
  label: string;
  name?: string;
  err?: ApiError | null;
  hint?: ComponentChildren;
  children: (id: string, describedBy: string | undefined, invalid: boolean) => ComponentChildren;
  wide?: boolean;
}) {
  const id = useId();
  const msg = props.name ? errorFor(props.err, props.name) : undefined;
  const errId = `${id}-err`;
  const hintId = `${id}-hint`;
  const describedBy = [msg ? errId : "", props.hint ? hintId : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div class={`field${props.wide ? " wide" : ""}${msg ? " invalid" : ""}`}>
      <label for={id}>{props.label}</label>
      {props.children(id, describedBy, !!msg)}
      {props.hint && (
        <div class="hint" id={hintId}>
          {props.hint}
        </div>
      )}
      {msg && (
        <div class="field-error" id={errId} role="alert">
          {msg}
        </div>
      )}
    </div>
  );
}

type InputProps = Omit<InputHTMLAttributes<HTMLInputElement>, "onInput" | "value" | "name" | "label"> & {
  value: string;
  onValue: (v: string) => void;
};

/** A text field bound to a string. */
export function TextField(
  props: { label: string; name?: string; err?: ApiError | null; hint?: ComponentChildren; wide?: boolean } & InputProps,
) {
  const { label, name, err, hint, wide, value, onValue, ...rest } = props;
  return (
    <Field label={label} name={name} err={err} hint={hint} wide={wide}>
      {(id, describedBy, invalid) => (
        <input
          id={id}
          name={name}
          value={value}
          aria-invalid={invalid}
          aria-describedby={describedBy}
          onInput={(e) => onValue((e.target as HTMLInputElement).value)}
          {...rest}
        />
      )}
    </Field>
  );
}

/** A multi-line field (JSON, templates). */
export function TextArea(props: {
  label: string;
  name?: string;
  err?: ApiError | null;
  hint?: ComponentChildren;
  value: string;
  onValue: (v: string) => void;
  rows?: number;
  readOnly?: boolean;
  placeholder?: string;
}) {
  return (
    <Field label={props.label} name={props.name} err={props.err} hint={props.hint} wide>
      {(id, describedBy, invalid) => (
        <textarea
          id={id}
          name={props.name}
          class="code"
          rows={props.rows ?? 6}
          spellcheck={false}
          value={props.value}
          readOnly={props.readOnly}
          placeholder={props.placeholder}
          aria-invalid={invalid}
          aria-describedby={describedBy}
          onInput={(e) => props.onValue((e.target as HTMLTextAreaElement).value)}
        />
      )}
    </Field>
  );
}

/** A checkbox with its label on the right. */
export function Check(props: { label: ComponentChildren; checked: boolean; onChange: (v: boolean) => void; disabled?: boolean; name?: string }) {
  return (
    <label class="check">
      <input
        type="checkbox"
        name={props.name}
        checked={props.checked}
        disabled={props.disabled}
        onChange={(e) => props.onChange((e.target as HTMLInputElement).checked)}
      />{" "}
      {props.label}
    </label>
  );
}

/** The API error of a form when it names no field shown in it (or no field at all). */
export function FormError(props: { err: ApiError | null | undefined; fields?: string[] }) {
  const e = props.err;
  if (!e) return null;
  if (e.field && props.fields?.some((f) => errorFor(e, f))) return null;
  return (
    <div class="notice error" role="alert">
      {e.field ? `${e.field}: ` : ""}
      {e.message}
    </div>
  );
}

/** Informational banner. */
export function Notice(props: { kind?: "info" | "warn" | "error" | "ok"; children: ComponentChildren }) {
  return (
    <div class={`notice ${props.kind ?? "info"}`} role={props.kind === "error" ? "alert" : "status"}>
      {props.children}
    </div>
  );
}

/** What a list shows when it has nothing: what it is for and what to do next. */
export function Empty(props: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <strong>{props.title}</strong>
      {props.children && <div>{props.children}</div>}
    </div>
  );
}

/** A page header with actions on the right. */
export function PageHead(props: { title: ComponentChildren; sub?: ComponentChildren; children?: ComponentChildren }) {
  return (
    <header class="page-head">
      <div>
        <h1>{props.title}</h1>
        {props.sub && <p class="sub">{props.sub}</p>}
      </div>
      {props.children && <div class="actions">{props.children}</div>}
    </header>
  );
}

/** Copies text to the clipboard and says so. */
export function CopyButton(props: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="small"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(props.text);
        } catch {
          // Clipboard refused (insecure context): select-and-copy fallback.
          const t = document.createElement("textarea");
          t.value = props.text;
          document.body.append(t);
          t.select();
          document.execCommand("copy");
          t.remove();
        }
        setDone(true);
        setTimeout(() => setDone(false), 1500);
      }}
    >
      {done ? "Copied" : (props.label ?? "Copy")}
    </button>
  );
}

/** A delivery status as a coloured badge. */
export function StatusBadge(props: { status: DeliveryStatus }) {
  const name = STATUS_LABEL[props.status] ?? "—";
  return <span class={`badge s-${name.toLowerCase()}`}>{name}</span>;
}

/** An HTTP status code coloured by class. */
export function CodeBadge(props: { code: number }) {
  if (!props.code) return <span class="muted">—</span>;
  const c = props.code < 300 ? "ok" : props.code < 500 ? "warn" : "bad";
  return <span class={`code-badge ${c}`}>{props.code}</span>;
}

/** A modal dialog (native <dialog>: focus stays inside, Escape closes). */
export function Dialog(props: { open: boolean; title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) {
      if (d.showModal) d.showModal();
      else d.setAttribute("open", "");
    }
    if (!props.open && d.open) {
      if (d.close) d.close();
      else d.removeAttribute("open");
    }
  }, [props.open]);
  return (
    <dialog ref={ref} aria-label={props.title} onClose={props.onClose} onCancel={props.onClose}>
      {props.open && (
        <>
          <h2>{props.title}</h2>
          {props.children}
        </>
      )}
    </dialog>
  );
}

/** One page of a list and the token of the next. */
export interface Page<T> {
  items: T[];
  next: string;
}

/** Pages through a List RPC with its tokens (Previous keeps the tokens seen). */
export function usePaged<T>(fetchPage: (token: string) => Promise<Page<T>>, deps: unknown[]) {
  const [tokens, setTokens] = useState<string[]>([""]);
  const [items, setItems] = useState<T[] | null>(null);
  const [next, setNext] = useState("");
  const [err, setErr] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);
  const [gen, setGen] = useState(0);
  const token = tokens[tokens.length - 1];
  // A change of what is listed starts again at the first page.
  useEffect(() => setTokens([""]), deps);
  useEffect(() => {
    let live = true;
    setLoading(true);
    fetchPage(token).then(
      (p) => {
        if (!live) return;
        setItems(p.items);
        setNext(p.next);
        setErr(null);
        setLoading(false);
      },
      (e) => {
        if (!live) return;
        setErr(apiError(e));
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [token, gen, ...deps]);
  const reload = useCallback(() => setGen((g) => g + 1), []);
  return {
    items,
    setItems,
    err,
    loading,
    page: tokens.length,
    hasNext: next !== "",
    hasPrev: tokens.length > 1,
    nextPage: () => next && setTokens((t) => [...t, next]),
    prevPage: () => setTokens((t) => (t.length > 1 ? t.slice(0, -1) : t)),
    reload,
  };
}

/** Previous/next buttons of a paged list. */
export function Pager(props: { p: { page: number; hasNext: boolean; hasPrev: boolean; nextPage: () => void; prevPage: () => void } }) {
  const { p } = props;
  if (!p.hasNext && !p.hasPrev) return null;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" class="small" disabled={!p.hasPrev} onClick={p.prevPage}>
        ← Previous
      </button>
      <span>Page {p.page}</span>
      <button type="button" class="small" disabled={!p.hasNext} onClick={p.nextPage}>
        Next →
      </button>
    </nav>
  );
}

/** Loading, error or the list's content. */
export function ListState<T>(props: {
  items: T[] | null;
  err: ApiError | null;
  empty: ComponentChildren;
  children: (items: T[]) => ComponentChildren;
}) {
  if (props.err && !props.items) return <Notice kind="error">{props.err.message}</Notice>;
  if (!props.items) return <p class="muted">Loading…</p>;
  return (
    <>
      {props.err && <Notice kind="error">{props.err.message}</Notice>}
      {props.items.length === 0 ? props.empty : props.children(props.items)}
    </>
  );
}

/** An editable header. */
export interface HeaderRow {
  name: string;
  value: string;
  private: boolean;
}

/**
 * Edits a list of headers (name, value, private). Private values are hidden unless shown on request; keys
 * that are not ADMIN receive them as ******** and saving ******** keeps the stored value.
 */
export function HeadersEditor(props: {
  label: string;
  field: string;
  rows: HeaderRow[];
  onChange: (rows: HeaderRow[]) => void;
  err?: ApiError | null;
  readOnly?: boolean;
}) {
  const { rows, onChange, readOnly } = props;
  const [shown, setShown] = useState<Record<number, boolean>>({});
  const set = (i: number, patch: Partial<HeaderRow>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const groupErr = errorFor(props.err, props.field);
  return (
    <fieldset class="headers">
      <legend>{props.label}</legend>
      {rows.length === 0 && <p class="muted">No headers.</p>}
      {rows.map((r, i) => {
        const e = errorFor(props.err, `${props.field}[${i}]`);
        const masked = r.value === MASKED;
        return (
          <div class="header-row" key={i}>
            <input
              aria-label={`${props.label} ${i + 1} name`}
              placeholder="Name"
              value={r.name}
              readOnly={readOnly}
              onInput={(ev) => set(i, { name: (ev.target as HTMLInputElement).value })}
            />
            <input
              aria-label={`${props.label} ${i + 1} value`}
              placeholder="Value"
              type={r.private && !shown[i] && !masked ? "password" : "text"}
              value={r.value}
              readOnly={readOnly}
              onInput={(ev) => set(i, { value: (ev.target as HTMLInputElement).value })}
            />
            {r.private && !masked && (
              <button type="button" class="small" onClick={() => setShown({ ...shown, [i]: !shown[i] })} aria-pressed={!!shown[i]}>
                {shown[i] ? "Hide" : "Show"}
              </button>
            )}
            <Check label="Private" checked={r.private} disabled={readOnly} onChange={(v) => set(i, { private: v })} />
            {!readOnly && (
              <button type="button" class="small danger" aria-label={`Remove ${props.label} ${i + 1}`} onClick={() => onChange(rows.filter((_, j) => j !== i))}>
                ✕
              </button>
            )}
            {e && (
              <div class="field-error" role="alert">
                {e}
              </div>
            )}
          </div>
        );
      })}
      {groupErr && !rows.some((_, i) => errorFor(props.err, `${props.field}[${i}]`)) && (
        <div class="field-error" role="alert">
          {groupErr}
        </div>
      )}
      {!readOnly && (
        <button type="button" class="small" onClick={() => onChange([...rows, { name: "", value: "", private: false }])}>
          + Add header
        </button>
      )}
    </fieldset>
  );
}

/** Runs an async action with busy and error state. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const run = useCallback(async <R,>(fn: () => Promise<R>): Promise<R | undefined> => {
    setBusy(true);
    setErr(null);
    try {
      return await fn();
    } catch (e) {
      setErr(apiError(e));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, err, setErr, run };
}

/** Pretty-prints JSON text when it parses, else returns it as is. */
export function pretty(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

// A confirmation that survives the navigation after a create ("Webhook created."): flash sets it, the layout's
// <Flash/> shows it until dismissed or the next flash.
let flashText = "";
const flashListeners = new Set<(t: string) => void>();

/** Shows a confirmation in the layout (after creating something). */
export function flash(text: string) {
  flashText = text;
  flashListeners.forEach((l) => l(text));
}

/** The current confirmation, with a close button. */
export function Flash() {
  const [text, setText] = useState(flashText);
  useEffect(() => {
    flashListeners.add(setText);
    return () => void flashListeners.delete(setText);
  }, []);
  if (!text) return null;
  return (
    <div class="notice ok flash" role="status">
      {text}{" "}
      <button type="button" class="small" aria-label="Dismiss" onClick={() => flash("")}>
        ×
      </button>
    </div>
  );
}
