/** Compares a session's result files with the reference: exact, or which lines were lost/doubled/unexpected. */

/** The outcome of one query's comparison. */
export interface QueryVerdict {
  exact: boolean;
  lost: number;
  duplicated: number;
  unexpected: number;
}

function counts(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split("\n")) if (line !== "") m.set(line, (m.get(line) ?? 0) + 1);
  return m;
}

/** Line-multiset comparison of an actual result file with the expected one. */
export function compareResult(expected: string, actual: string): QueryVerdict {
  if (expected === actual) return { exact: true, lost: 0, duplicated: 0, unexpected: 0 };
  const want = counts(expected);
  const got = counts(actual);
  let lost = 0;
  let duplicated = 0;
  let unexpected = 0;
  for (const [line, n] of want) {
    const g = got.get(line) ?? 0;
    if (g < n) lost += n - g;
    if (g > n) duplicated += g - n;
  }
  for (const [line, n] of got) if (!want.has(line)) unexpected += n;
  return { exact: false, lost, duplicated, unexpected };
}
