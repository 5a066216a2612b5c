/** Credentials out of anything that is logged or printed. */

/** The URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):([^@]*)@/, "//$1:***@");
}

/** `text` (say, a driver's error message) with `url`'s password, if it has one, replaced by ***. */
export function redactIn(text: string, url: string): string {
  const password = /\/\/[^:/@]+:([^@]*)@/.exec(url)?.[1];
  return password ? text.split(password).join("***").split(decodeURIComponentSafe(password)).join("***") : text;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
