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
/** Bad input; the message names the field. */
export const isInvalidArgument = (err: unknown): err is ConnectError => hasCode(err, Code.InvalidArgument);
/** A duplicate, e.g. a webhook system name or an event type name. */
export const isAlreadyExists = (err: unknown): err is ConnectError => hasCode(err, Code.AlreadyExists);
/** Missing, unknown or revoked API key. */
export const isUnauthenticated = (err: unknown): err is ConnectError => hasCode(err, Code.Unauthenticated);
/** The key's role does not allow the call (e.g. a VIEWER writing). */
export const isPermissionDenied = (err: unknown): err is ConnectError => hasCode(err, Code.PermissionDenied);
/** Wrong state, e.g. retrying a delivery that is still queued. */
export const isFailedPrecondition = (err: unknown): err is ConnectError => hasCode(err, Code.FailedPrecondition);
