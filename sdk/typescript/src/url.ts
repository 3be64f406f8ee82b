/**
 * The URL a webhook calls, joined as the server joins it (sender.FullURL): its own `url` when set (or when it
 * has no integration, `baseUrl` undefined); else `path` appended to the integration's `baseUrl` with exactly
 * one "/" between them when neither or both bring one (others are kept: "…/api//" + "/a" is "…/api//a"), and a
 * `path` that is empty or starts with "?" or "#" appended as it is. The server returns this as
 * `Webhook.full_url`; use this function for a webhook not saved yet.
 */
export function fullUrl(url: string, path: string, baseUrl: string | undefined): string {
  if (url || baseUrl === undefined) return url;
  if (path === "" || path.startsWith("?") || path.startsWith("#")) return baseUrl + path;
  const baseSlash = baseUrl.endsWith("/");
  const pathSlash = path.startsWith("/");
  if (baseSlash && pathSlash) return baseUrl + path.slice(1);
  if (!baseSlash && !pathSlash) return baseUrl + "/" + path;
  return baseUrl + path;
}
