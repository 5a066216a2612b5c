import { expect, test } from "bun:test";
import { RejectReport, rejectLine, rejectReportLines } from "./rejectReport.ts";

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

test("reasons are counted per file with their own smallest lines, most frequent first, and print after their file's line", () => {
  const report = new RejectReport(2);
  report.add("t.csv", 9, "final_amount is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point, leading zeros not counted)");
  report.add("t.csv", 4, "3 fields where the header has 9");
  report.add("t.csv", 20, "final_amount is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point, leading zeros not counted)");
  report.add("t.csv", 2, "final_amount is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point, leading zeros not counted)");
  report.add("t.csv", 7); // an older gateway's ack: counted, no reason
  report.add("a.csv", 5, "user_id is not an id (a whole number from 0 to 2147483647)");
  expect(report.total).toBe(6);
  expect(rejectReportLines(report.files())).toEqual([
    "rejected: a.csv: 1 row rejected (line 5)",
    "why: a.csv: user_id is not an id (a whole number from 0 to 2147483647): 1 row (line 5)",
    "rejected: t.csv: 5 rows rejected (lines 2, 4, ...)",
    "why: t.csv: final_amount is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point, leading zeros not counted): 3 rows (lines 2, 9, ...)",
    "why: t.csv: 3 fields where the header has 9: 1 row (line 4)",
  ]);
  // The `rejected:` lines alone are what lines() gave before reasons existed.
  expect(rejectReportLines(report.files()).filter((l) => l.startsWith("rejected: ")).map((l) => l.slice(10))).toEqual(report.lines());
});
