import { expect, test } from "bun:test";
import { parseCents, parseCount, parseDate, parseId, parseOptionalId, parseTimestamp } from "./fields.ts";

test("parseCents is exact", () => {
  expect(parseCents("75.0")).toBe(7500);
  expect(parseCents("75")).toBe(7500);
  expect(parseCents("12.25")).toBe(1225);
  expect(parseCents("0.1")).toBe(10);
  expect(parseCents("-3.5")).toBe(-350);
  expect(parseCents("1.250")).toBe(125);
  expect(parseCents("1.255")).toBeNaN();
  for (const bad of ["", "abc", "1,5", "1.", ".5", "1e3", " 1"]) expect(parseCents(bad)).toBeNaN();
});

test("ids accept the float form of the public dataset", () => {
  expect(parseId("140170.0")).toBe(140170);
  expect(parseId("7")).toBe(7);
  expect(parseId("7.5")).toBeNaN();
  expect(parseId("")).toBeNaN();
  expect(parseOptionalId("")).toBe(-1);
  expect(parseId("99999999999")).toBeNaN();
  expect(parseCount("3.0")).toBe(3);
});

test("leading zeros do not count toward the digit limits: a padded value in range is that value", () => {
  expect(parseCents("0000000000000075.0")).toBe(7500);
  expect(parseCents("-000000000000000000000012.25")).toBe(-1225);
  expect(parseCents("0000090071992547409.91")).toBe(Number.MAX_SAFE_INTEGER);
  expect(parseCents("0000090071992547409.92")).toBeNaN();
  expect(parseCents("0001234567890123456")).toBeNaN(); // 16 significant digits
  expect(parseCents("000")).toBe(0);
  expect(parseId("00000000007")).toBe(7);
  expect(parseId("0002147483647.0")).toBe(2_147_483_647);
  expect(parseId("0002147483648")).toBeNaN();
  expect(parseCount("0000000000000003")).toBe(3);
  expect(parseCount("-0000000000000003.0")).toBe(-3);
  expect(parseCount("0")).toBe(0);
});

test("dates and timestamps are validated against the calendar", () => {
  expect(parseDate("1969-12-31")).toBe(19691231);
  expect(parseDate("2024-02-29")).toBe(20240229);
  expect(parseDate("2023-02-29")).toBeNaN();
  expect(parseDate("2024-13-01")).toBeNaN();
  expect(parseDate("0001-01-01")).toBe(10101);
  expect(parseDate("0000-01-01")).toBeNaN();
  expect(parseTimestamp("0000-06-01 10:00:00")).toBeNull();
  expect(parseTimestamp("2024-01-01 23:00:00")).toEqual({ date: 20240101, seconds: 82800 });
  expect(parseTimestamp("2024-01-01 24:00:00")).toBeNull();
  expect(parseTimestamp("2024-01-01T10:00:00")).toBeNull();
  expect(parseTimestamp("2024-01-01 10:00")).toBeNull();
});

/** The first, regular-expression versions: a readable oracle for the scanning parsers. */
const oracle = {
  cents(text: string): number {
    const m = /^(-?)0*(\d{1,15})(?:\.(\d+))?$/.exec(text);
    if (!m) return NaN;
    const frac = m[3] ?? "";
    if (frac.length > 2 && !/^0*$/.test(frac.slice(2))) return NaN;
    const cents = Number(m[2]) * 100 + Number((frac + "00").slice(0, 2));
    if (cents > Number.MAX_SAFE_INTEGER) return NaN;
    return m[1] === "-" ? -cents : cents;
  },
  id(text: string): number {
    const m = /^0*(\d{1,10})(?:\.0+)?$/.exec(text);
    if (!m) return NaN;
    const id = Number(m[1]);
    return id <= 2_147_483_647 ? id : NaN;
  },
  count(text: string): number {
    const m = /^(-?)0*(\d{1,15})(?:\.0+)?$/.exec(text);
    return m ? Number(`${m[1]}${m[2]}`) : NaN;
  },
  date(text: string): number {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
    if (!m) return NaN;
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const dim = mo === 2 ? ((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28) : mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31;
    return y < 1 || mo < 1 || mo > 12 || d < 1 || d > dim ? NaN : y * 10000 + mo * 100 + d;
  },
  timestamp(text: string): { date: number; seconds: number } | null {
    if (text.length !== 19 || text[10] !== " ") return null;
    const date = oracle.date(text.slice(0, 10));
    const m = /^(\d{2}):(\d{2}):(\d{2})$/.exec(text.slice(11));
    if (Number.isNaN(date) || !m) return null;
    const [h, mi, s] = [Number(m[1]), Number(m[2]), Number(m[3])];
    return h > 23 || mi > 59 || s > 59 ? null : { date, seconds: h * 3600 + mi * 60 + s };
  },
};

test("the scanning parsers agree with the regular-expression oracle on 200 000 near-miss strings", () => {
  let seed = 12345;
  // Math.imul: a float product loses its low bits, and the sequence collapsed onto a dozen strings.
  const next = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
  const alphabet = "0123456789.-: 0990Tx";
  const mutate = (s: string): string => {
    const pos = next(s.length + 1);
    const op = next(3);
    const ch = alphabet[next(alphabet.length)]!;
    return op === 0 ? s.slice(0, pos) + ch + s.slice(pos) : op === 1 ? s.slice(0, pos) + s.slice(pos + 1) : s.slice(0, pos) + ch + s.slice(pos + 1);
  };
  const seeds = ["75.0", "12.25", "-3.5", "140170.0", "7", "1.250", "99999999999", "3.0", "0000000000000075.0", "00000000007", "-0000000000000003", "2024-02-29", "1969-12-31", "2024-01-01 23:00:00", "2023-02-28 05:59:59", "999999999999999.99"];
  for (let i = 0; i < 200_000; i++) {
    let s = seeds[next(seeds.length)]!;
    for (let k = next(4); k > 0; k--) s = mutate(s);
    const same = (a: number, b: number): boolean => (Number.isNaN(a) && Number.isNaN(b)) || Object.is(a, b);
    if (!same(parseCents(s), oracle.cents(s))) throw new Error(`parseCents(${JSON.stringify(s)}) = ${parseCents(s)}, oracle ${oracle.cents(s)}`);
    if (!same(parseId(s), oracle.id(s))) throw new Error(`parseId(${JSON.stringify(s)})`);
    if (!same(parseCount(s), oracle.count(s))) throw new Error(`parseCount(${JSON.stringify(s)})`);
    if (!same(parseDate(s), oracle.date(s))) throw new Error(`parseDate(${JSON.stringify(s)})`);
    expect(parseTimestamp(s)).toEqual(oracle.timestamp(s));
  }
});

test("every (month, day) of leap, century and ordinary years agrees with the oracle, and any non-digit in a digit slot is refused", () => {
  const pad = (n: number, w: number): string => String(n).padStart(w, "0");
  for (const year of [1900, 2000, 2023, 2024]) {
    for (let month = 0; month <= 13; month++) {
      for (let day = 0; day <= 32; day++) {
        const s = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
        expect([s, parseDate(s)]).toEqual([s, oracle.date(s)]);
      }
    }
  }
  expect(parseDate("2000-02-29")).toBe(20000229);
  expect(parseDate("1900-02-29")).toBeNaN();
  expect(parseDate("2024-04-31")).toBeNaN();
  expect(parseDate("2024-11-31")).toBeNaN();
  // Bytes above '9' (':' is '9' + 1) in each digit slot of a date and of a timestamp.
  for (const bad of [":", ";", "A", "x"]) {
    for (const at of [0, 1, 2, 3, 5, 6, 8, 9]) {
      const d = "2024-01-01".slice(0, at) + bad + "2024-01-01".slice(at + 1);
      expect([d, parseDate(d)]).toEqual([d, NaN]);
    }
    for (const at of [11, 12, 14, 15, 17, 18]) {
      const t = "2024-01-01 10:00:00".slice(0, at) + bad + "2024-01-01 10:00:00".slice(at + 1);
      expect([t, parseTimestamp(t)]).toEqual([t, null]);
    }
  }
  for (const t of ["2024-01-01 10:00:60", "2024-01-01 10:60:00", "2024-01-01 10:00x00", "2024-01-01 10x00:00"]) expect([t, parseTimestamp(t)]).toEqual([t, null]);
  expect(parseTimestamp("2024-01-01 23:59:59")).toEqual({ date: 20240101, seconds: 86399 });
});

test("ids: the largest id is accepted, one more is not; a trailing point without digits is not a float form", () => {
  expect(parseId("2147483647")).toBe(2147483647);
  expect(parseId("2147483647.0")).toBe(2147483647);
  expect(parseId("2147483648")).toBeNaN();
  expect(parseId("7.")).toBeNaN();
  expect(parseCount("7.")).toBeNaN();
  expect(parseCount("1234567890123456")).toBeNaN();
});
