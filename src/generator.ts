/**
 * Deterministic synthetic dataset behind `coffee gen`: the folders, columns and quirks of the
 * public coffee-shop dataset (README "Query semantics" and "coffee gen"), streamed month by month through buffered writers
 * so that 620 000 transactions a month and a million users never sit in memory at once.
 *
 * Every random choice comes from seeded xoshiro128** streams (one per month and entity), so the
 * same options always give byte-identical files. Query edge cases are planted on purpose:
 * timestamps on the Q1 window edges, amounts of exactly 75.0 / 74.99 / 75.01, Q2 ties (balancing
 * item rows on each month's last day), Q4 ties among per-store "regular" users, unknown stores,
 * user ids missing from users, pre-1970 birthdates and names that need CSV quoting.
 */
import { once } from "node:events";
import { createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, statSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "./errors.ts";
import { csvLine, formatCents } from "./format.ts";

// ---------------------------------------------------------------------------------------------
// Months

/** A calendar month. */
export interface YearMonth {
  year: number;
  month: number;
}

/** The public dataset's months, the default of `--months`. */
export const DEFAULT_MONTHS = "2023-07..2025-06";

/** Parse `YYYY-MM..YYYY-MM` (or a single `YYYY-MM`) into the months it spans; ConfigError names --months. */
export function parseMonthRange(text: string): YearMonth[] {
  const m = /^(\d{4})-(\d{2})(?:\.\.(\d{4})-(\d{2}))?$/.exec(text.trim());
  if (!m) throw new ConfigError(`--months must look like YYYY-MM..YYYY-MM (e.g. ${DEFAULT_MONTHS}), got "${text}"`);
  const from = Number(m[1]) * 12 + Number(m[2]) - 1;
  const to = m[3] === undefined ? from : Number(m[3]) * 12 + Number(m[4]) - 1;
  for (const month of [Number(m[2]), Number(m[4] ?? m[2])]) {
    if (month < 1 || month > 12) throw new ConfigError(`--months has a month outside 01..12: "${text}"`);
  }
  if (from < 1900 * 12) throw new ConfigError(`--months must start in 1900 or later, got "${text}"`);
  if (to < from) throw new ConfigError(`--months range ends before it starts: "${text}"`);
  if (to - from >= 1200) throw new ConfigError(`--months spans more than 100 years: "${text}"`);
  const months: YearMonth[] = [];
  for (let i = from; i <= to; i++) months.push({ year: Math.floor(i / 12), month: (i % 12) + 1 });
  return months;
}

function daysInMonth(ym: YearMonth): number {
  const { year, month } = ym;
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

const TWO = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, "0"));

function two(n: number): string {
  return TWO[n]!;
}

function monthTag(ym: YearMonth): string {
  return `${ym.year}${two(ym.month)}`;
}

function dateText(ym: YearMonth, day: number): string {
  return `${ym.year}-${two(ym.month)}-${two(day)}`;
}

function timeText(seconds: number): string {
  return `${two(Math.floor(seconds / 3600))}:${two(Math.floor(seconds / 60) % 60)}:${two(seconds % 60)}`;
}

const inQueryYears = (ym: YearMonth): boolean => ym.year === 2024 || ym.year === 2025;

// ---------------------------------------------------------------------------------------------
// Randomness

function mix32(value: number): number {
  let x = value >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A 32-bit seed for one stream, derived from the user's seed and the stream's coordinates. */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = mix32((seed >>> 0) + 0x9e3779b9);
  for (const part of parts) h = mix32((h ^ Math.imul(part >>> 0, 0xcc9e2d51)) + 0x9e3779b9);
  return h;
}

/** Seeded xoshiro128** generator (128-bit state, so uuid-sized draws do not repeat). */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      return mix32(s);
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** Next unsigned 32-bit value. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }
}

function hex8(word: number): string {
  return word.toString(16).padStart(8, "0");
}

/** A version-4 style UUID drawn from `rng`. */
export function randomUuid(rng: Rng): string {
  const h = hex8(rng.u32()) + hex8(rng.u32());
  const w2 = rng.u32();
  const l = hex8(w2) + hex8(rng.u32());
  const variant = "89ab"[(w2 >>> 28) & 3]!;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${l.slice(1, 4)}-${l.slice(4)}`;
}

/** Index into a cumulative weight table. */
function pickWeighted(rng: Rng, cumulative: readonly number[]): number {
  const total = cumulative[cumulative.length - 1]!;
  const x = rng.float() * total;
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cumulative[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function cumulate(weights: readonly number[]): number[] {
  let sum = 0;
  return weights.map((w) => (sum += w));
}

// ---------------------------------------------------------------------------------------------
// Catalogs

/** Header row of every file the generator writes, by folder. */
export const GEN_HEADERS = {
  transactions: ["transaction_id", "store_id", "payment_method_id", "voucher_id", "user_id", "original_amount", "discount_applied", "final_amount", "created_at"],
  transaction_items: ["transaction_id", "item_id", "quantity", "unit_price", "subtotal", "created_at"],
  users: ["user_id", "gender", "birthdate", "registered_at"],
  stores: ["store_id", "store_name", "street", "postal_code", "city", "state", "latitude", "longitude"],
  menu_items: ["item_id", "item_name", "category", "price", "is_seasonal", "available_from", "available_to"],
  payment_methods: ["payment_method_id", "payment_method_name"],
  vouchers: ["voucher_id", "voucher_code", "discount_type", "discount_value", "valid_from", "valid_to"],
} as const;

/** A folder the generator writes. */
export type GenFolder = keyof typeof GEN_HEADERS;

/** Store rows: name, street, postal code, city, state, latitude, longitude. Names 1 and 2 need quoting. */
const STORE_ROWS: readonly (readonly string[])[] = [
  ["G Coffee @ USJ, 89q", "Jalan Dewan Bahasa 5/9", "50998", "USJ 89q", "Kuala Lumpur", "3.117134", "101.615027"],
  ['G Coffee @ "Kondominium" Putra', "Jln Yew 6X", "63826", "Kampung Changkat", "Putrajaya", "2.959571", "101.51772"],
  ["G Coffee @ Seksyen 21", "Jalan Anson 4k", "62693", "Seksyen 21", "Putrajaya", "2.961737", "101.693207"],
  ["G Coffee @ Alam Tun Hussein Onn", "Jln Pasar Besar 63s", "63518", "Alam Tun Hussein Onn", "Selangor", "3.279175", "101.784824"],
  ["G Coffee @ Kampung Changkat", "Jln 6/6A", "62941", "Kampung Changkat", "Putrajaya", "2.923231", "101.700103"],
  ["G Coffee @ Bandar Seri Mulia", "Jalan Wisma Putra", "58621", "Bandar Seri Mulia", "Kuala Lumpur", "3.115425", "101.671286"],
  ["G Coffee @ Taman Damansara", "Jalan Damansara 3, Taman Tun Dr Ismail", "60000", "Taman Damansara", "Kuala Lumpur", "3.146731", "101.628342"],
  ["G Coffee @ Jalan Kuching", "Jalan Kuching 12", "51200", "Kuala Lumpur", "Kuala Lumpur", "3.177461", "101.681102"],
  ["G Coffee @ Mutiara Damansara", "Jalan PJU 7/3", "47800", "Petaling Jaya", "Selangor", "3.156672", "101.610981"],
  ["G Coffee @ Shah Alam", "Persiaran Sultan 14", "40000", "Shah Alam", "Selangor", "3.073281", "101.518461"],
];

interface MenuItem {
  name: string;
  category: string;
  cents: number;
  weight: number;
  seasonal: boolean;
}

/**
 * Default menu. Weights make Latte/Cappuccino lead on quantity and Mocha/Matcha (nearly equal
 * price * weight) lead on profit, so the Q2 balancing rows that force ties stay few.
 */
const MENU: readonly MenuItem[] = [
  { name: "Espresso", category: "coffee", cents: 600, weight: 0.9, seasonal: false },
  { name: "Americano", category: "coffee", cents: 700, weight: 0.9, seasonal: false },
  { name: "Latte", category: "coffee", cents: 800, weight: 1.0, seasonal: false },
  { name: "Cappuccino", category: "coffee", cents: 800, weight: 1.0, seasonal: false },
  { name: "Flat White", category: "coffee", cents: 900, weight: 0.7, seasonal: false },
  { name: "Mocha, Dark", category: "coffee", cents: 1000, weight: 0.84, seasonal: false },
  { name: "Hot Chocolate", category: "non-coffee", cents: 950, weight: 0.6, seasonal: false },
  { name: "Matcha Latte", category: "non-coffee", cents: 1025, weight: 0.82, seasonal: false },
];

const PAYMENT_METHODS = ["Cash", "Credit Card", "Debit Card", "E-wallet, Touch 'n Go", "Bank Transfer"];

interface Voucher {
  percent: boolean;
  value: number;
}

const VOUCHER_COUNT = 20;

function voucherOf(id: number): Voucher {
  return id % 2 === 0 ? { percent: true, value: [5, 10, 15][id % 3]! } : { percent: false, value: [100, 250, 500][id % 3]! };
}

function discountFor(voucher: Voucher, original: number): number {
  const raw = voucher.percent ? Math.round((original * voucher.value) / 100) : voucher.value;
  return Math.max(0, Math.min(raw, original - 100));
}

// ---------------------------------------------------------------------------------------------
// Configuration and plan

/** What `coffee gen` generates. */
export interface GenConfig {
  out: string;
  seed: number;
  months: YearMonth[];
  transactionsPerMonth: number;
  users: number;
  stores: number;
  menuItems: number;
}

/** Four users per store whose visit counts make Q4 ties: a = b at ranks 1-2, c = d at ranks 3-4. */
interface Regulars {
  a: number;
  b: number;
  c: number;
  d: number;
}

interface Plan {
  config: GenConfig;
  menu: MenuItem[];
  menuCumulative: number[];
  storeCumulative: number[];
  regulars: Regulars[];
  regularIds: Set<number>;
  /** Visits per month of c and d in 2024–2025 (a and b get one more; outside, only d visits). */
  regularVisits: number;
  missingBase: number;
  missingSpan: number;
  birthdates: Map<number, string>;
}

const EMPTY_USER_SHARE = 0.1;
const MISSING_USER_SHARE = 0.015;
const UNKNOWN_STORE_SHARE = 0.005;
const VOUCHER_SHARE = 0.15;

function buildMenu(count: number, seed: number): MenuItem[] {
  const rng = new Rng(deriveSeed(seed, 7));
  const menu = MENU.slice(0, count);
  for (let id = menu.length + 1; id <= count; id++) {
    menu.push({ name: `Seasonal Blend ${id}`, category: "seasonal", cents: 500 + 25 * rng.int(40), weight: 0.05 + rng.float() * 0.25, seasonal: true });
  }
  return menu;
}

function buildPlan(config: GenConfig): Plan {
  const { seed, stores: S, users: U, transactionsPerMonth: T } = config;
  const menu = buildMenu(config.menuItems, seed);
  const storeRng = new Rng(deriveSeed(seed, 8));
  const storeWeights = Array.from({ length: S }, () => 0.7 + storeRng.float() * 0.6);
  const storeCumulative = cumulate(storeWeights);
  const maxShare = Math.max(...storeWeights) / storeCumulative[S - 1]!;
  const missingSpan = Math.max(10, Math.floor(U / 20));
  const plan: Plan = {
    config, menu, storeCumulative, regulars: [], regularIds: new Set(), regularVisits: 0,
    menuCumulative: cumulate(menu.map((m) => m.weight)), missingBase: U + 1, missingSpan, birthdates: new Map(),
  };
  // Regular visit counts must beat every ordinary user's count at a store by a wide margin.
  const windowMonths = config.months.filter(inQueryYears).length;
  const perPairPerMonth = (1.1 * (1 - EMPTY_USER_SHARE) * T * maxShare) / U;
  const mu = windowMonths * perPairPerMonth;
  const visits = Math.ceil((mu + 7 * Math.sqrt(mu) + 8) / Math.max(1, windowMonths));
  if (windowMonths === 0 || U < 8 * S || T < 200 || (4 * visits + 2) * S > T / 4) return plan;
  plan.regularVisits = visits;
  const slot = (r: number): number => 1 + Math.floor((r * U) / (4 * S));
  for (let s = 0; s < S; s++) {
    const regular = { b: slot(4 * s), a: slot(4 * s + 1), c: slot(4 * s + 2), d: slot(4 * s + 3) };
    if (s === 0) regular.b = U + missingSpan + 1; // a top-3 user missing from users: empty birthdate
    plan.regulars.push(regular);
    for (const id of [regular.a, regular.b, regular.c, regular.d]) plan.regularIds.add(id);
  }
  const forced: [number | undefined, string][] = [
    [plan.regulars[1]?.a, "1958-03-14"], [plan.regulars[1]?.b, "1969-12-31"],
    [plan.regulars[2]?.a, "1970-01-01"], [plan.regulars[2]?.c, "1944-02-29"],
  ];
  for (const [id, date] of forced) if (id !== undefined) plan.birthdates.set(id, date);
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Buffered output

/**
 * Writes text to `<path>.part` through a node:fs stream in ~1 MB chunks: text is encoded straight
 * into a preallocated Buffer (no long string ropes to flatten), full chunks are handed over by
 * `flush()`, which awaits 'drain' when the stream pushes back. `close()` renames the file to
 * `path`, so readers never see a half-written .csv.
 */
export class BufferedFileWriter {
  /** Bytes handed to the file so far. */
  bytes = 0;
  private chunk: Buffer;
  private used = 0;
  private readonly ready: Buffer[] = [];
  private failure: Error | null = null;
  private readonly stream: WriteStream;

  constructor(
    readonly path: string,
    private readonly chunkBytes: number = 1 << 20,
  ) {
    this.chunk = Buffer.allocUnsafe(chunkBytes);
    this.stream = createWriteStream(`${path}.part`);
    this.stream.on("error", (err) => {
      this.failure = err;
    });
  }

  /** Append text; true when a full chunk waits for `flush()`. */
  write(text: string): boolean {
    const worst = text.length * 3;
    if (this.used + worst > this.chunk.length) this.rotate(worst);
    this.used += this.chunk.write(text, this.used, "utf8");
    return this.ready.length > 0;
  }

  /** True when a full chunk waits for `flush()`. */
  get due(): boolean {
    return this.ready.length > 0;
  }

  /** Retire the current chunk (if any bytes) and start one that fits at least `need` bytes. */
  private rotate(need: number): void {
    if (this.used > 0) this.ready.push(this.chunk.subarray(0, this.used));
    this.chunk = Buffer.allocUnsafe(Math.max(this.chunkBytes, need));
    this.used = 0;
  }

  /** Hand the full chunks to the stream, waiting for 'drain' whenever it is saturated. */
  async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    for (const chunk of this.ready.splice(0)) {
      this.bytes += chunk.length;
      if (!this.stream.write(chunk)) await once(this.stream, "drain");
    }
  }

  /** Flush everything, close, and move the file into place. */
  async close(): Promise<void> {
    if (this.used > 0) this.ready.push(this.chunk.subarray(0, this.used));
    this.used = 0;
    await this.flush();
    const closed = once(this.stream, "close");
    this.stream.end();
    await closed;
    if (this.failure) throw this.failure;
    renameSync(`${this.path}.part`, this.path);
  }
}

async function writeSmallFile(path: string, header: readonly string[], rows: readonly (readonly string[])[]): Promise<number> {
  const writer = new BufferedFileWriter(path);
  writer.write(csvLine(header));
  for (const row of rows) writer.write(csvLine(row));
  await writer.close();
  return writer.bytes;
}

// ---------------------------------------------------------------------------------------------
// Transactions and items

interface Special {
  time?: number;
  amount?: number;
  store?: number;
  user?: number;
  /** Forces many items so the amount can be reached by a discount. */
  big?: boolean;
}

interface Tx {
  seq: number;
  seconds: number;
  id: string;
  store: number;
  payment: number;
  voucher: number;
  user: number;
  original: number;
  discount: number;
  final: number;
  /** Flat pairs: item index, quantity. */
  items: number[];
}

const DAY = 86400;
const WINDOW_START = 6 * 3600;
const WINDOW_END = 23 * 3600;
const EDGE_TIMES = [WINDOW_START - 1, WINDOW_START, WINDOW_END, WINDOW_END + 1];

function windowTime(rng: Rng): number {
  return WINDOW_START + rng.int(WINDOW_END - WINDOW_START + 1);
}

function randomTime(rng: Rng): number {
  if (rng.chance(0.92)) return windowTime(rng);
  const early = WINDOW_START;
  const off = rng.int(early + (DAY - WINDOW_END - 1));
  return off < early ? off : WINDOW_END + 1 + (off - early);
}

/** The month's planted rows, in priority order (later ones are dropped when the month is tiny). */
function monthSpecials(plan: Plan, ym: YearMonth): Special[] {
  const list: Special[] = [];
  for (let round = 0; round < 3; round++) for (const time of EDGE_TIMES) list.push({ time });
  const [early, start, end, late] = EDGE_TIMES as [number, number, number, number];
  list.push(
    { time: start, amount: 7500, big: true }, { time: end, amount: 7500, big: true }, { time: end, amount: 7499, big: true },
    { time: start, amount: 7501, big: true }, { time: early, amount: 7500, big: true }, { time: late, amount: 7500, big: true },
  );
  for (const amount of [7500, 7500, 7499, 7499, 7501, 7501]) list.push({ amount, big: true });
  if (plan.regularVisits > 0) {
    const k = plan.regularVisits;
    plan.regulars.forEach((r, s) => {
      const store = s + 1;
      const counts: [number, number][] = inQueryYears(ym) ? [[r.a, k + 1], [r.b, k + 1], [r.c, k], [r.d, k]] : [[r.d, k + 2]];
      for (const [user, n] of counts) for (let i = 0; i < n; i++) list.push({ store, user });
    });
  }
  return list;
}

/** Map slot index (0..T-1, creation order) to its special row. */
function placeSpecials(list: Special[], total: number, rng: Rng): Map<number, Special> {
  const placed = new Map<number, Special>();
  if (total <= 0) return placed;
  placed.set(0, { time: 0 });
  if (total > 1) placed.set(total - 1, { time: DAY - 1 });
  for (const special of list) {
    if (placed.size >= total) break;
    let slot = rng.int(total);
    while (placed.has(slot)) slot = rng.int(total);
    placed.set(slot, special);
  }
  return placed;
}

function pickStore(plan: Plan, rng: Rng): number {
  if (rng.chance(UNKNOWN_STORE_SHARE)) return plan.config.stores + 1 + rng.int(2);
  return 1 + pickWeighted(rng, plan.storeCumulative);
}

function pickUser(plan: Plan, rng: Rng): number {
  const r = rng.float();
  if (r < EMPTY_USER_SHARE) return -1;
  if (r < EMPTY_USER_SHARE + MISSING_USER_SHARE) return plan.missingBase + rng.int(plan.missingSpan);
  let id = 1 + rng.int(plan.config.users);
  while (plan.regularIds.has(id)) id = 1 + rng.int(plan.config.users);
  return id;
}

const ITEM_COUNTS = cumulate([0.4, 0.3, 0.2, 0.1]);
const QUANTITIES = cumulate([0.5, 0.25, 0.15, 0.1]);

function pickItems(plan: Plan, rng: Rng, big: boolean): number[] {
  const n = Math.min(plan.menu.length, big ? 4 : 1 + pickWeighted(rng, ITEM_COUNTS));
  const items: number[] = [];
  while (items.length < 2 * n) {
    const idx = pickWeighted(rng, plan.menuCumulative);
    let seen = false;
    for (let i = 0; i < items.length; i += 2) if (items[i] === idx) seen = true;
    if (!seen) items.push(idx, big ? 4 : 1 + pickWeighted(rng, QUANTITIES));
  }
  return items;
}

function makeTx(plan: Plan, rng: Rng, seq: number, special: Special | undefined, items?: number[]): Tx {
  const id = randomUuid(rng);
  const seconds = special?.time ?? (special?.amount !== undefined ? windowTime(rng) : randomTime(rng));
  const store = special?.store ?? pickStore(plan, rng);
  const user = special?.user ?? pickUser(plan, rng);
  const payment = 1 + rng.int(PAYMENT_METHODS.length);
  const rows = items ?? pickItems(plan, rng, special?.big === true);
  let original = 0;
  for (let i = 0; i < rows.length; i += 2) original += plan.menu[rows[i]!]!.cents * rows[i + 1]!;
  let voucher = 0;
  let discount = 0;
  if (special?.amount !== undefined) {
    // Reach the planted amount through a discount; a tiny menu may need a larger original instead.
    if (original < special.amount) original = special.amount;
    discount = original - special.amount;
    if (discount > 0) voucher = 1 + rng.int(VOUCHER_COUNT);
  } else if (rng.chance(VOUCHER_SHARE)) {
    voucher = 1 + rng.int(VOUCHER_COUNT);
    discount = discountFor(voucherOf(voucher), original);
  }
  return { seq, seconds, id, store, payment, voucher, user, original, discount, final: original - discount, items: rows };
}

/**
 * Extra quantity per item that makes this month's Q2 winners tie. Mode 0 ties the two items with
 * the largest quantity, mode 1 ties two items on the largest profit, mode 2 does both. A tie
 * costing more than `cap` units of quantity is skipped.
 */
export function balanceQuantities(mode: 0 | 1 | 2, qty: readonly number[], cents: readonly number[], cap: number): number[] {
  const n = qty.length;
  const add = new Array<number>(n).fill(0);
  if (n < 2) return add;
  const q = qty.slice();
  let qtyCeiling = Infinity;
  if (mode !== 1) {
    const order = q.map((_, i) => i).sort((x, y) => q[y]! - q[x]! || x - y);
    const [top, second] = [order[0]!, order[1]!];
    const need = q[top]! - q[second]!;
    if (need <= cap) {
      add[second] = need;
      q[second] = q[top]!;
      qtyCeiling = q[top]!;
      cap -= need;
    }
  }
  if (mode !== 0) {
    const pmax = Math.max(...q.map((v, i) => v * cents[i]!));
    let best: [number, number, number, number] | null = null;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const ci = cents[i]!;
        const cj = cents[j]!;
        const lcm = (ci / gcd(ci, cj)) * cj;
        const target = Math.ceil(pmax / lcm) * lcm;
        const ai = target / ci - q[i]!;
        const aj = target / cj - q[j]!;
        if (q[i]! + ai > qtyCeiling || q[j]! + aj > qtyCeiling) continue;
        if (best === null || ai + aj < best[2] + best[3]) best = [i, j, ai, aj];
      }
    }
    if (best !== null && best[2] + best[3] <= cap) {
      add[best[0]] = add[best[0]]! + best[2];
      add[best[1]] = add[best[1]]! + best[3];
    }
  }
  return add;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function balancingTxs(plan: Plan, rng: Rng, seq: number, adds: number[]): Tx[] {
  const out: Tx[] = [];
  const remaining = adds.slice();
  for (;;) {
    const rows: number[] = [];
    for (let i = 0; i < remaining.length && rows.length < 8; i++) {
      const left = remaining[i]!;
      if (left <= 0) continue;
      const q = Math.min(left, 1 + rng.int(4));
      remaining[i] = left - q;
      rows.push(i, q);
    }
    if (rows.length === 0) return out;
    out.push(makeTx(plan, rng, seq++, { time: windowTime(rng) }, rows));
  }
}

/** Rows written per folder. */
export type RowCounts = Record<GenFolder, number>;

interface MonthWriters {
  tx: BufferedFileWriter;
  items: BufferedFileWriter;
}

async function writeTxs(plan: Plan, txs: Tx[], dayPrefix: string, out: MonthWriters, rows: RowCounts): Promise<void> {
  txs.sort((x, y) => x.seconds - y.seconds || x.seq - y.seq);
  const prices = plan.menu.map((m) => formatCents(m.cents));
  for (const t of txs) {
    const at = dayPrefix + timeText(t.seconds);
    // Hot path: every field is a uuid, number or timestamp, so none needs CSV quoting and the
    // line is built directly (csvLine's per-field check costs ~30% of a full-size month).
    out.tx.write(
      `${t.id},${t.store},${t.payment},${t.voucher > 0 ? `${t.voucher}.0` : ""},${t.user >= 0 ? `${t.user}.0` : ""},` +
        `${formatCents(t.original)},${formatCents(t.discount)},${formatCents(t.final)},${at}\n`,
    );
    for (let i = 0; i < t.items.length; i += 2) {
      const item = t.items[i]!;
      const qty = t.items[i + 1]!;
      const price = prices[item]!;
      out.items.write(`${t.id},${item + 1},${qty},${price},${formatCents(plan.menu[item]!.cents * qty)},${at}\n`);
    }
    rows.transactions++;
    rows.transaction_items += t.items.length / 2;
    if (out.tx.due) await out.tx.flush();
    if (out.items.due) await out.items.flush();
  }
}

async function writeTransactionMonth(plan: Plan, ym: YearMonth, dir: string, rows: RowCounts): Promise<number> {
  const T = plan.config.transactionsPerMonth;
  const rng = new Rng(deriveSeed(plan.config.seed, 1, ym.year * 100 + ym.month));
  const specials = placeSpecials(monthSpecials(plan, ym), T, rng);
  const out: MonthWriters = {
    tx: new BufferedFileWriter(join(dir, "transactions", `transactions_${monthTag(ym)}.csv`)),
    items: new BufferedFileWriter(join(dir, "transaction_items", `transaction_items_${monthTag(ym)}.csv`)),
  };
  out.tx.write(csvLine(GEN_HEADERS.transactions));
  out.items.write(csvLine(GEN_HEADERS.transaction_items));
  const qty = new Array<number>(plan.menu.length).fill(0);
  const days = daysInMonth(ym);
  let seq = 0;
  for (let day = 0; day < days; day++) {
    const count = Math.floor((T * (day + 1)) / days) - Math.floor((T * day) / days);
    const txs: Tx[] = [];
    for (let i = 0; i < count; i++, seq++) {
      const t = makeTx(plan, rng, seq, specials.get(seq));
      for (let k = 0; k < t.items.length; k += 2) qty[t.items[k]!]! += t.items[k + 1]!;
      txs.push(t);
    }
    if (day === days - 1) {
      const mode = ((ym.year * 12 + ym.month - 1) % 3) as 0 | 1 | 2;
      const cap = Math.max(120, Math.floor(T * 0.12));
      const adds = balanceQuantities(mode, qty, plan.menu.map((m) => m.cents), cap);
      txs.push(...balancingTxs(plan, rng, seq, adds));
    }
    await writeTxs(plan, txs, `${dateText(ym, day + 1)} `, out, rows);
  }
  await out.tx.close();
  await out.items.close();
  return out.tx.bytes + out.items.bytes;
}

// ---------------------------------------------------------------------------------------------
// Users

function randomBirthdate(rng: Rng): string {
  const year = rng.chance(0.2) ? 1940 + rng.int(30) : 1970 + rng.int(39);
  const month = 1 + rng.int(12);
  return dateText({ year, month }, 1 + rng.int(daysInMonth({ year, month })));
}

async function writeUsersMonth(plan: Plan, ym: YearMonth, index: number, dir: string, rows: RowCounts): Promise<number> {
  const { users, months } = plan.config;
  const first = Math.floor((users * index) / months.length) + 1;
  const last = Math.floor((users * (index + 1)) / months.length);
  const count = last - first + 1;
  const rng = new Rng(deriveSeed(plan.config.seed, 2, ym.year * 100 + ym.month));
  const writer = new BufferedFileWriter(join(dir, "users", `users_${monthTag(ym)}.csv`));
  writer.write(csvLine(GEN_HEADERS.users));
  const monthSeconds = daysInMonth(ym) * DAY;
  for (let id = first; id <= last; id++) {
    const gender = rng.chance(0.5) ? "female" : "male";
    const birthdate = randomBirthdate(rng);
    const at = Math.floor(((id - first + rng.float()) * monthSeconds) / count);
    const registered = `${dateText(ym, 1 + Math.floor(at / DAY))} ${timeText(at % DAY)}`;
    if (writer.write(csvLine([String(id), gender, plan.birthdates.get(id) ?? birthdate, registered]))) await writer.flush();
    rows.users++;
  }
  await writer.close();
  return writer.bytes;
}

// ---------------------------------------------------------------------------------------------
// Small tables

function storeRows(plan: Plan): string[][] {
  const rng = new Rng(deriveSeed(plan.config.seed, 9));
  return Array.from({ length: plan.config.stores }, (_, i) => {
    const known = STORE_ROWS[i];
    if (known) return [String(i + 1), ...known];
    const lat = (2.9 + rng.float() * 0.4).toFixed(6);
    const lon = (101.5 + rng.float() * 0.3).toFixed(6);
    return [String(i + 1), `G Coffee @ Outlet ${i + 1}`, `Jalan ${1 + rng.int(99)}/${1 + rng.int(20)}`, String(40000 + rng.int(30000)), "Kuala Lumpur", "Kuala Lumpur", lat, lon];
  });
}

function menuRows(plan: Plan): string[][] {
  return plan.menu.map((m, i) => [
    String(i + 1), m.name, m.category, formatCents(m.cents), m.seasonal ? "True" : "False",
    m.seasonal ? "2023-10-01" : "", m.seasonal ? "2024-03-31" : "",
  ]);
}

function voucherRows(): string[][] {
  return Array.from({ length: VOUCHER_COUNT }, (_, i) => {
    const v = voucherOf(i + 1);
    const value = v.percent ? String(v.value) : formatCents(v.value);
    return [String(i + 1), `GC${String(i + 1).padStart(3, "0")}${v.percent ? "PCT" : "OFF"}`, v.percent ? "percent" : "fixed", value, "2023-01-01", "2025-12-31"];
  });
}

// ---------------------------------------------------------------------------------------------
// Orchestration

/** What a run wrote. */
export interface GenSummary {
  out: string;
  rows: RowCounts;
  files: number;
  bytes: number;
  seconds: number;
}

/** The one-line stdout summary of a run. */
export function formatSummary(summary: GenSummary): string {
  const rows = Object.entries(summary.rows).map(([k, v]) => `${k}=${v}`).join(" ");
  return `gen: wrote ${rows} files=${summary.files} bytes=${summary.bytes} seconds=${summary.seconds.toFixed(2)} out=${summary.out}`;
}

function expectedFiles(config: GenConfig): Map<GenFolder, Set<string>> {
  const tags = config.months.map(monthTag);
  return new Map<GenFolder, Set<string>>([
    ["transactions", new Set(tags.map((t) => `transactions_${t}.csv`))],
    ["transaction_items", new Set(tags.map((t) => `transaction_items_${t}.csv`))],
    ["users", new Set(tags.map((t) => `users_${t}.csv`))],
    ["stores", new Set(["stores.csv"])],
    ["menu_items", new Set(["menu_items.csv"])],
    ["payment_methods", new Set(["payment_methods.csv"])],
    ["vouchers", new Set(["vouchers.csv"])],
  ]);
}

/** Create the folders; refuse (ConfigError) if they hold CSVs this run would not overwrite. */
function prepareOutput(config: GenConfig): void {
  if (existsSync(config.out) && !statSync(config.out).isDirectory()) throw new ConfigError(`--out ${config.out} is not a directory`);
  for (const [folder, names] of expectedFiles(config)) {
    const dir = join(config.out, folder);
    mkdirSync(dir, { recursive: true });
    const stale = readdirSync(dir).filter((n) => n.toLowerCase().endsWith(".csv") && !names.has(n));
    if (stale.length > 0) {
      throw new ConfigError(`--out ${config.out}: ${folder}/ already holds ${stale.slice(0, 3).join(", ")}${stale.length > 3 ? ", ..." : ""} which this run would not write; remove it or choose another --out`);
    }
  }
}

/**
 * Generate the whole dataset under `config.out`. `onProgress` receives one line per month. Files
 * appear atomically (written as `.part`, then renamed).
 */
export async function generateDataset(config: GenConfig, onProgress?: (line: string) => void): Promise<GenSummary> {
  const started = performance.now();
  const plan = buildPlan(config);
  prepareOutput(config);
  const rows: RowCounts = { transactions: 0, transaction_items: 0, users: 0, stores: 0, menu_items: 0, payment_methods: 0, vouchers: 0 };
  const dir = config.out;
  const small: [GenFolder, string[][]][] = [
    ["stores", storeRows(plan)],
    ["menu_items", menuRows(plan)],
    ["payment_methods", PAYMENT_METHODS.map((name, i) => [String(i + 1), name])],
    ["vouchers", voucherRows()],
  ];
  let bytes = 0;
  for (const [folder, data] of small) {
    bytes += await writeSmallFile(join(dir, folder, `${folder}.csv`), GEN_HEADERS[folder], data);
    rows[folder] = data.length;
  }
  for (const [index, ym] of config.months.entries()) {
    bytes += await writeUsersMonth(plan, ym, index, dir, rows);
    bytes += await writeTransactionMonth(plan, ym, dir, rows);
    const elapsed = ((performance.now() - started) / 1000).toFixed(1);
    onProgress?.(`gen: ${ym.year}-${two(ym.month)} done (${index + 1}/${config.months.length} months, transactions=${rows.transactions} transaction_items=${rows.transaction_items} users=${rows.users}, ${elapsed}s)`);
  }
  return { out: dir, rows, files: small.length + 3 * config.months.length, bytes, seconds: (performance.now() - started) / 1000 };
}
