import { expect, test } from "bun:test";
import { RejectReport, rejectLine } from "./rejectReport.ts";

test("one rejected row reads in the singular; left-out lines show as ...", () => {
  expect(rejectLine({ file: "f.csv", count: 1, firstLines: [7] })).toBe("f.csv: 1 row rejected (line 7)");
  expect(rejectLine({ file: "f.csv", count: 3, firstLines: [7] })).toBe("f.csv: 3 rows rejected (line 7, ...)");
  expect(rejectLine({ file: "f.csv", count: 2, firstLines: [7, 9] })).toBe("f.csv: 2 rows rejected (lines 7, 9)");
});

test("a report keeps the smallest lines whatever the order they came in, and lists files by name", () => {
  const report = new RejectReport(3);
  for (const line of [40, 12, 99, 3, 12, 50]) report.add("b.csv", line);
  report.add("a.csv", 5);
  expect(report.total).toBe(7);
  expect(report.files()).toEqual([{ file: "b.csv", count: 6, firstLines: [3, 12, 12] }, { file: "a.csv", count: 1, firstLines: [5] }]);
  expect(report.lines()).toEqual(["a.csv: 1 row rejected (line 5)", "b.csv: 6 rows rejected (lines 3, 12, 12, ...)"]);
});
