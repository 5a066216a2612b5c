import { expect, test } from "bun:test";
import { PARENT_PID_ENV, watchParentFromEnv } from "./parentWatch.ts";

/** The pids `watchParentFromEnv` reported gone for `value`, and whether it started a watch. */
function check(value: string | undefined): { gone: number[]; watched: boolean } {
  const gone: number[] = [];
  let watched = false;
  watchParentFromEnv({ [PARENT_PID_ENV]: value }, (pid) => gone.push(pid), () => { watched = true; });
  return { gone, watched };
}

test("a parent that died before the watch began is reported at once; a live process not our parent was inherited and is ignored", async () => {
  const child = Bun.spawn(["true"]);
  await child.exited;
  expect(check(String(child.pid))).toEqual({ gone: [child.pid], watched: false });
  // This very process runs and is not its own parent: a value passed down from further up.
  expect(check(String(process.pid))).toEqual({ gone: [], watched: false });
  // Our real parent runs: watched, not reported.
  expect(check(String(process.ppid))).toEqual({ gone: [], watched: true });
});

test("no value, init, or garbage: nothing is watched", () => {
  for (const value of [undefined, "", "1", "0", "-5", "abc", "12.5"]) expect(check(value)).toEqual({ gone: [], watched: false });
});

test("a child hears the end of its stdin once its parent's end of the pipe closes, not before", async () => {
  const script = `import { watchStdinEnd } from ${JSON.stringify(`${import.meta.dir}/parentWatch.ts`)}; watchStdinEnd(() => { console.log("gone"); process.exit(0); }); console.log("watching");`;
  const child = Bun.spawn([process.execPath, "-e", script], { stdin: "pipe", stdout: "pipe" });
  const reader = child.stdout.getReader();
  let out = "";
  while (!out.includes("watching")) out += new TextDecoder().decode((await reader.read()).value);
  child.stdin.write("ignored\n");
  child.stdin.flush();
  // Still running with the pipe open; its end is what tells it.
  child.stdin.end();
  expect(await child.exited).toBe(0);
  for (let r = await reader.read(); !r.done; r = await reader.read()) out += new TextDecoder().decode(r.value);
  expect(out).toBe("watching\ngone\n");
});
