import { expect, test } from "bun:test";
import { compareResult } from "./verdict.ts";

test("exact, lost, duplicated and unexpected lines are told apart", () => {
  const ref = "h\na\nb\nc\n";
  expect(compareResult(ref, ref)).toEqual({ exact: true, lost: 0, duplicated: 0, unexpected: 0 });
  expect(compareResult(ref, "h\na\nc\n")).toEqual({ exact: false, lost: 1, duplicated: 0, unexpected: 0 });
  expect(compareResult(ref, "h\na\nb\nb\nc\n")).toEqual({ exact: false, lost: 0, duplicated: 1, unexpected: 0 });
  expect(compareResult(ref, "h\na\nb\nc\nz\n")).toEqual({ exact: false, lost: 0, duplicated: 0, unexpected: 1 });
  // Same lines, wrong order: not exact, yet nothing lost or added.
  expect(compareResult(ref, "h\nc\nb\na\n")).toEqual({ exact: false, lost: 0, duplicated: 0, unexpected: 0 });
});
