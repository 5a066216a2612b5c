/** Credentials out of anything that is logged or printed. */

/**
 * The user-info of a URL, split as the AMQP driver splits it: everything between `scheme://` and
 * the last `@` of the authority (a password may itself contain `@`).
 */
function userInfo(url: string): { start: number; end: number } | null {
  const scheme = url.indexOf("://");
  if (scheme < 0) return null;
  const start = scheme + 3;
  const at = url.lastIndexOf("@");
  return at > start ? { start, end: at } : null;
}

/** The URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  const info = userInfo(url);
  if (!info) return url;
  const colon = url.indexOf(":", info.start);
  if (colon < 0 || colon > info.end) return url;
  return `${url.slice(0, colon + 1)}***${url.slice(info.end)}`;
}

/** `text` (say, a driver's error message) with `url`'s password, if it has one, replaced by ***. */
export function redactIn(text: string, url: string): string {
  const info = userInfo(url);
  if (!info) return text;
  const colon = url.indexOf(":", info.start);
  if (colon < 0 || colon > info.end) return text;
  const password = url.slice(colon + 1, info.end);
  if (password === "") return text;
  return text.split(password).join("***").split(decodeURIComponentSafe(password)).join("***");
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
