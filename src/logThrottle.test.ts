import { expect, test } from "bun:test";
import { LogThrottle } from "./logThrottle.ts";

test("the first line at once, then none until the interval has passed since the last one said", () => {
  let now = 1000;
  const throttle = new LogThrottle(60_000, () => now);
  expect(throttle.due()).toBe(true);
  now += 59_999;
  expect(throttle.due()).toBe(false);
  now += 1;
  expect(throttle.due()).toBe(true);
  now += 30_000;
  expect(throttle.due()).toBe(false);
});
