/** sessionStorage key under which {@link portalTokenFromLocation} keeps a portal token. */
export const PORTAL_TOKEN_KEY = "hookd.portalToken";

/** Where {@link portalTokenFromLocation} reads and clears the fragment (window by default). */
export interface PortalLocation {
  location: { hash: string; pathname: string; search: string };
  history: { replaceState(data: unknown, unused: string, url?: string): void };
  sessionStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void };
}

/**
 * Reads a portal token from the page's URL fragment (`#token=hps_…`, as in CreatePortalSession's portal_url), keeps
 * it in sessionStorage (this tab only) and clears the fragment, so that the token never appears in a URL sent to
 * a server, in the history or in a bookmark. Without a fragment it returns the token kept earlier in this tab
 * (a reload), or undefined. Where the browser denies storage (a third-party frame with storage blocked) the
 * token is only returned, and a reload needs a new portal URL.
 *
 * ```ts
 * const token = portalTokenFromLocation();
 * const hookd = createHookdClient({ baseUrl: "https://hookd.example.com", token });
 * ```
 */
export function portalTokenFromLocation(w: PortalLocation = globalThis as unknown as PortalLocation): string | undefined {
  const params = new URLSearchParams(w.location.hash.replace(/^#/, ""));
  const token = params.get("token");
  if (token) {
    try {
      w.sessionStorage.setItem(PORTAL_TOKEN_KEY, token);
    } catch {
      // A third-party frame whose browser blocks its storage: the token lives in this page only.
    }
    w.history.replaceState(null, "", w.location.pathname + w.location.search);
    return token;
  }
  try {
    return w.sessionStorage.getItem(PORTAL_TOKEN_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}
