import { expect, test } from "bun:test";
import { PARENT_PID_ENV, watchParentFromEnv } from "./parentWatch.ts";

/** The pids `watchParentFromEnv` reported gone for `value`. */
function goneFor(value: string | undefined): number[] {
  const gone: number[] = [];
  watchParentFromEnv({ [PARENT_PID_ENV]: value }, (pid) => gone.push(pid));
  return gone;
}

test("a parent that died before the watch began is reported at once; a live process not our parent was inherited and is ignored", async () => {
  const child = Bun.spawn(["true"]);
  await child.exited;
  expect(goneFor(String(child.pid))).toEqual([child.pid]);
  // This very process runs and is not its own parent: a value passed down from further up.
  expect(goneFor(String(process.pid))).toEqual([]);
  // Our real parent runs: watched, not reported.
  expect(goneFor(String(process.ppid))).toEqual([]);
});

test("no value, init, or garbage: nothing is watched", () => {
  for (const value of [undefined, "", "1", "0", "-5", "abc", "12.5"]) expect(goneFor(value)).toEqual([]);
});
