import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";

export { Code, ConnectError };

/** The Connect code of err, or undefined when err is not a ConnectError. */
export function codeOf(err: unknown): Code | undefined {
  return err instanceof ConnectError ? err.code : undefined;
}

/** Whether err is a ConnectError with the given code. */
export function hasCode(err: unknown, code: Code): err is ConnectError {
  return codeOf(err) === code;
}

/** Unknown id, or an object of another project. */
export const isNotFound = (err: unknown): err is ConnectError => hasCode(err, Code.NotFound);
/** Bad input; {@link fieldViolations} names the field (and so does the message). */
export const isInvalidArgument = (err: unknown): err is ConnectError => hasCode(err, Code.InvalidArgument);
/** A duplicate, e.g. a webhook system name or an event type name. */
export const isAlreadyExists = (err: unknown): err is ConnectError => hasCode(err, Code.AlreadyExists);
/** Missing, unknown or revoked API key. */
export const isUnauthenticated = (err: unknown): err is ConnectError => hasCode(err, Code.Unauthenticated);
/** The key's role does not allow the call (e.g. a VIEWER writing). */
export const isPermissionDenied = (err: unknown): err is ConnectError => hasCode(err, Code.PermissionDenied);
/** Wrong state, e.g. retrying a delivery that is still queued. */
export const isFailedPrecondition = (err: unknown): err is ConnectError => hasCode(err, Code.FailedPrecondition);

/** One field of a request that hookd rejected: the field path (e.g. "headers[0].name") and why. */
export interface FieldViolation {
  field: string;
  description: string;
}

/** The fully-qualified name of the error detail hookd attaches to invalid_argument errors. */
const BAD_REQUEST = "google.rpc.BadRequest";

/**
 * The field violations of an error: the `google.rpc.BadRequest` details hookd attaches to every invalid_argument
 * error naming a field (empty when err has none, or is not a ConnectError).
 */
export function fieldViolations(err: unknown): FieldViolation[] {
  if (!(err instanceof ConnectError)) return [];
  const out: FieldViolation[] = [];
  for (const d of err.details) {
    if ("type" in d && d.type.slice(d.type.lastIndexOf("/") + 1) === BAD_REQUEST) {
      out.push(...decodeBadRequest(d.value));
    }
  }
  return out;
}

// decodeBadRequest reads google.rpc.BadRequest { repeated FieldViolation field_violations = 1; } where
// FieldViolation is { string field = 1; string description = 2; … } (the SDK carries no googleapis code).
function decodeBadRequest(bytes: Uint8Array): FieldViolation[] {
  const out: FieldViolation[] = [];
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) {
      const v: FieldViolation = { field: "", description: "" };
      const vr = new BinaryReader(r.bytes());
      while (vr.pos < vr.len) {
        const [vno, vwt] = vr.tag();
        if (vno === 1 && vwt === WireType.LengthDelimited) v.field = vr.string();
        else if (vno === 2 && vwt === WireType.LengthDelimited) v.description = vr.string();
        else vr.skip(vwt);
      }
      out.push(v);
    } else {
      r.skip(wt);
    }
  }
  return out;
}

/**
 * An invalid_argument error as hookd sends it: the message "field: description" and a `google.rpc.BadRequest`
 * detail naming the field, so {@link fieldViolations} reads it. For a client's own checks before a call, and for
 * test doubles of the API.
 */
export function invalidArgument(field: string, description: string): ConnectError {
  const violation = new BinaryWriter().tag(1, WireType.LengthDelimited).string(field);
  violation.tag(2, WireType.LengthDelimited).string(description);
  const value = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(violation.finish()).finish();
  const err = new ConnectError(`${field}: ${description}`, Code.InvalidArgument);
  err.details.push({ type: BAD_REQUEST, value });
  return err;
}
