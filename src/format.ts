/** Output formatting of the reports (README "Query semantics"): exact money, RFC 4180 quoting, `\n` line ends. */

/** A yyyymmdd date as `YYYY-MM-DD`; 0 (no date) as the empty string. */
export function formatDate(yyyymmdd: number): string {
  if (yyyymmdd === 0) return "";
  const s = String(yyyymmdd).padStart(8, "0");
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6)}`;
}

/** Money in integer cents as the shortest decimal with at least one fractional digit (7500 → "75.0"). */
export function formatCents(cents: number): string {
  const negative = cents < 0;
  const abs = Math.abs(cents);
  const whole = Math.floor(abs / 100);
  const frac = abs % 100;
  let fracText: string;
  if (frac === 0) fracText = "0";
  else if (frac % 10 === 0) fracText = String(frac / 10);
  else fracText = frac < 10 ? `0${frac}` : String(frac);
  return `${negative ? "-" : ""}${whole}.${fracText}`;
}

const NEEDS_QUOTES = /[",\r\n]/;

/** One CSV field, quoted only when it contains a comma, quote or line break. */
export function csvField(value: string): string {
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** One CSV line (with its trailing `\n`). */
export function csvLine(fields: readonly string[]): string {
  return fields.map(csvField).join(",") + "\n";
}
