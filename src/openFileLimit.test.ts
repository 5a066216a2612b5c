import { expect, test } from "bun:test";
import { clientSocketBudget, openFileLimit, RESERVED_DESCRIPTORS, socketLimits } from "./openFileLimit.ts";

const LIMITS = (soft: string): string => `Limit                     Soft Limit           Hard Limit           Units
Max processes             95000                95000                processes
Max open files            ${soft}                 524288               files
Max locked memory         8388608              8388608              bytes
`;

test("the soft open-file limit is read from /proc/self/limits; unlimited or unreadable is null", () => {
  expect(openFileLimit(() => LIMITS("1024"))).toBe(1024);
  expect(openFileLimit(() => LIMITS("unlimited"))).toBeNull();
  expect(openFileLimit(() => { throw new Error("ENOENT"); })).toBeNull();
  // This machine's, for real: a number, or null off Linux.
  const here = openFileLimit();
  expect(here === null || (Number.isInteger(here) && here > 0)).toBe(true);
});

test("client sockets get the limit less the reserve and two spool files per session (one being fsynced, one taking appends), never less than a few", () => {
  expect(clientSocketBudget(1024, 16)).toBe(1024 - RESERVED_DESCRIPTORS - 2 * 16);
  expect(clientSocketBudget(null, 16)).toBe(Infinity);
  expect(clientSocketBudget(64, 200)).toBe(8);
});

test("connections yet to say hello are capped below the socket budget, leaving the sessions' room; the option holds where the limit allows", () => {
  // 1024 - 32 - 2 × 16 = 960 sockets: --max-handshakes 256 fits.
  expect(socketLimits(1024, 16, 256)).toEqual({ maxSockets: 960, maxHandshakes: 256 });
  // 64 - 32 - 2 × 5 = 22 sockets, 5 of them the sessions': 17 handshakes.
  expect(socketLimits(64, 5, 256)).toEqual({ maxSockets: 22, maxHandshakes: 17 });
  expect(socketLimits(64, 200, 256)).toEqual({ maxSockets: 8, maxHandshakes: 1 });
  expect(socketLimits(null, 5, 256)).toEqual({ maxSockets: Infinity, maxHandshakes: 256 });
});
