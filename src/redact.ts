/** Credentials out of anything that is logged or printed. */
import { brokerNodes } from "./brokerNodes.ts";

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

/** Where the password sits in `url` (after the user-info's first `:`), or null when it has none. */
function passwordSpan(url: string): { start: number; end: number } | null {
  const info = userInfo(url);
  if (!info) return null;
  const colon = url.indexOf(":", info.start);
  return colon < 0 || colon > info.end ? null : { start: colon + 1, end: info.end };
}

/** The URL without its password, for logs and errors; each node's, for a list of nodes (src/brokerNodes.ts). */
export function redactUrl(url: string): string {
  const nodes = brokerNodes(url);
  if (nodes.length > 1) return nodes.map(redactUrl).join(",");
  // As connected to: without the spaces or commas around it.
  const node = nodes[0] ?? url;
  const span = passwordSpan(node);
  return span ? `${node.slice(0, span.start)}***${node.slice(span.end)}` : node;
}

/** `text` (say, a driver's error message) with `url`'s password, if it has one, replaced by ***; every node's, for a list. */
export function redactIn(text: string, url: string): string {
  const nodes = brokerNodes(url);
  if (nodes.length > 1) return nodes.reduce((out, node) => redactIn(out, node), text);
  const span = passwordSpan(url);
  const password = span ? url.slice(span.start, span.end) : "";
  if (password === "") return text;
  return hidePassword(hidePassword(text, password), decodeURIComponentSafe(password));
}

/**
 * Below this length a password is hidden only where it stands alone: a one-letter password
 * replaced everywhere would garble the message around it (`ACC***SS_R***FUS***D` for "E"), and
 * a short word inside a longer one tells nothing about the password.
 */
const SHORT_PASSWORD = 6;

/** Letters of any script with their combining marks, digits and `_` (RabbitMQ's codes are words like NOT_FOUND). */
const WORD_CHAR = /^[\p{L}\p{M}\p{N}_]$/u;

/** The character (code point) that starts at `i` of `text`, if any. */
const charAt = (text: string, i: number): string | undefined => (i >= 0 && i < text.length ? String.fromCodePoint(text.codePointAt(i)!) : undefined);

/** The character (code point) that ends just before `i` of `text`, if any: both halves of a surrogate pair. */
function charBefore(text: string, i: number): string | undefined {
  if (i <= 0) return undefined;
  const low = text.charCodeAt(i - 1);
  const paired = low >= 0xdc00 && low <= 0xdfff && i >= 2 && text.charCodeAt(i - 2) >= 0xd800 && text.charCodeAt(i - 2) <= 0xdbff;
  return charAt(text, paired ? i - 2 : i - 1);
}

const isWordChar = (c: string | undefined): boolean => c !== undefined && WORD_CHAR.test(c);

/** `text` with `password` replaced by ***: everywhere, or for a short one, where it is not part of a longer word. */
function hidePassword(text: string, password: string): string {
  if (password === "") return text;
  if (password.length >= SHORT_PASSWORD) return text.split(password).join("***");
  const joinsBefore = isWordChar(charAt(password, 0));
  const joinsAfter = isWordChar(charBefore(password, password.length));
  let out = "";
  let from = 0;
  for (let at = text.indexOf(password); at >= 0; at = text.indexOf(password, at + 1)) {
    if (at < from) continue;
    const inWord = (joinsBefore && isWordChar(charBefore(text, at))) || (joinsAfter && isWordChar(charAt(text, at + password.length)));
    if (inWord) continue;
    out += `${text.slice(from, at)}***`;
    from = at + password.length;
  }
  return out + text.slice(from);
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
