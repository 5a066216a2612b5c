import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Papa from "papaparse";
import { GEN_OPTIONS, genCommand, resolveGenConfig } from "./commands/gen.ts";
import { ConfigError } from "./errors.ts";
import { parseCents } from "./fields.ts";
import { formatCents } from "./format.ts";
import { balanceQuantities, deriveSeed, GEN_HEADERS, generateDataset, parseMonthRange, randomUuid, Rng, type GenConfig } from "./generator.ts";
import { parseOptions } from "./options.ts";

const roots: string[] = [];

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "coffee-gen-test-"));
  roots.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of roots) rmSync(dir, { recursive: true, force: true });
});

function config(args: string[], out: string): GenConfig {
  return resolveGenConfig(parseOptions(GEN_OPTIONS, ["--out", out, ...args], {}));
}

/** Every row (header first) of every CSV in a folder, files in name order. */
function readFolder(root: string, folder: string): { file: string; rows: string[][] }[] {
  const dir = join(root, folder);
  return readdirSync(dir)
    .filter((n) => n.endsWith(".csv"))
    .sort()
    .map((file) => ({ file, rows: Papa.parse<string[]>(readFileSync(join(dir, file), "utf8"), { skipEmptyLines: true }).data }));
}

/** Data rows of a folder as objects keyed by header name. */
function records(root: string, folder: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const { rows } of readFolder(root, folder)) {
    const header = rows[0]!;
    for (const row of rows.slice(1)) out.push(Object.fromEntries(header.map((h, i) => [h, row[i] ?? ""])));
  }
  return out;
}

function allBytes(root: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const folder of Object.keys(GEN_HEADERS)) {
    for (const name of readdirSync(join(root, folder)).sort()) files.set(`${folder}/${name}`, readFileSync(join(root, folder, name), "utf8"));
  }
  return files;
}

const SMALL = ["--months", "2024-01..2024-02", "--transactions-per-month", "400", "--users", "300", "--quiet"];

describe("options", () => {
  test("defaults", () => {
    const c = resolveGenConfig(parseOptions(GEN_OPTIONS, [], {}));
    expect(c.out).toBe("./data");
    expect(c.seed).toBe(1);
    expect(c.months.length).toBe(24);
    expect(c.months[0]).toEqual({ year: 2023, month: 7 });
    expect(c.months[23]).toEqual({ year: 2025, month: 6 });
    expect([c.transactionsPerMonth, c.users, c.stores, c.menuItems]).toEqual([2000, 2000, 10, 8]);
  });

  test("environment variables", () => {
    const c = resolveGenConfig(parseOptions(GEN_OPTIONS, [], { COFFEE_GEN_SEED: "7", COFFEE_GEN_MONTHS: "2024-03" }));
    expect(c.seed).toBe(7);
    expect(c.months).toEqual([{ year: 2024, month: 3 }]);
  });

  const bad: [string[], string][] = [
    [["--months", "2024-13..2024-14"], "--months"],
    [["--months", "2024-05..2024-01"], "--months"],
    [["--months", "last year"], "--months"],
    [["--users", "0"], "--users"],
    [["--transactions-per-month", "many"], "--transactions-per-month"],
    [["--seed", "-1"], "--seed"],
    [["--stores", "0"], "--stores"],
    [["--menu-items", "1001"], "--menu-items"],
    [["--quiet", "maybe"], "--quiet"],
  ];
  for (const [argv, name] of bad) {
    test(`rejects ${argv.join(" ")}`, () => {
      let error: unknown;
      try {
        resolveGenConfig(parseOptions(GEN_OPTIONS, argv, {}));
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain(name);
    });
  }

  test("month ranges", () => {
    expect(parseMonthRange("2023-11..2024-02").map((m) => `${m.year}-${m.month}`)).toEqual(["2023-11", "2023-12", "2024-1", "2024-2"]);
  });
});

describe("primitives", () => {
  test("rng is deterministic and seed-dependent", () => {
    const draw = (seed: number): number[] => {
      const rng = new Rng(seed);
      return Array.from({ length: 5 }, () => rng.u32());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    expect(deriveSeed(1, 1, 202401)).not.toBe(deriveSeed(1, 1, 202402));
  });

  test("uuids look like v4 uuids", () => {
    const rng = new Rng(1);
    for (let i = 0; i < 100; i++) expect(randomUuid(rng)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test("balanceQuantities ties the quantity leaders", () => {
    const add = balanceQuantities(0, [10, 30, 25, 5], [100, 200, 300, 400], 100);
    expect(add).toEqual([0, 0, 5, 0]);
  });

  test("balanceQuantities ties the profit leaders with different quantities", () => {
    const qty = [10, 30, 25, 5];
    const cents = [100, 200, 300, 400];
    const add = balanceQuantities(1, qty, cents, 1000);
    const profit = qty.map((q, i) => (q + add[i]!) * cents[i]!);
    const sorted = [...profit].sort((a, b) => b - a);
    expect(sorted[0]).toBe(sorted[1]!);
  });

  test("balanceQuantities skips a tie that costs more than the cap", () => {
    expect(balanceQuantities(0, [100, 10], [100, 100], 5)).toEqual([0, 0]);
  });
});

describe("small runs", () => {
  test("same seed gives identical bytes, another seed different ones", async () => {
    const [a, b, c] = [freshDir(), freshDir(), freshDir()];
    await generateDataset(config(SMALL, a));
    await generateDataset(config(SMALL, b));
    await generateDataset(config([...SMALL, "--seed", "2"], c));
    const [fa, fb, fc] = [allBytes(a), allBytes(b), allBytes(c)];
    expect([...fa.keys()]).toEqual([...fb.keys()]);
    for (const [name, text] of fa) expect(fb.get(name) === text).toBe(true);
    expect(fc.get("transactions/transactions_202401.csv") === fa.get("transactions/transactions_202401.csv")).toBe(false);
  });

  test("--months range is respected", async () => {
    const dir = freshDir();
    const summary = await generateDataset(config(SMALL, dir));
    expect(readdirSync(join(dir, "transactions")).sort()).toEqual(["transactions_202401.csv", "transactions_202402.csv"]);
    expect(readdirSync(join(dir, "transaction_items")).sort()).toEqual(["transaction_items_202401.csv", "transaction_items_202402.csv"]);
    expect(readdirSync(join(dir, "users")).sort()).toEqual(["users_202401.csv", "users_202402.csv"]);
    for (const t of records(dir, "transactions")) expect(t.created_at!.slice(0, 7) === "2024-01" || t.created_at!.slice(0, 7) === "2024-02").toBe(true);
    expect(summary.rows.users).toBe(300);
    expect(summary.rows.transactions).toBeGreaterThanOrEqual(800);
  });

  test("refuses an output folder holding CSVs it would not write", async () => {
    const dir = freshDir();
    mkdirSync(join(dir, "transactions"));
    writeFileSync(join(dir, "transactions", "transactions_209901.csv"), "x\n");
    await expect(generateDataset(config(SMALL, dir))).rejects.toThrow(/--out/);
  });

  test("the command prints a summary line", async () => {
    const dir = freshDir();
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => lines.push(String(chunk)) > 0) as typeof process.stdout.write;
    try {
      expect(await genCommand.run(parseOptions(GEN_OPTIONS, ["--out", dir, ...SMALL], {}))).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    expect(lines.join("")).toMatch(/^gen: wrote transactions=\d+ transaction_items=\d+ users=300 .*bytes=\d+ seconds=/);
  });
});

describe("default-size dataset", () => {
  let dir = "";
  let txs: Record<string, string>[] = [];
  let items: Record<string, string>[] = [];
  let users: Record<string, string>[] = [];
  let stores: Record<string, string>[] = [];
  let menu: Record<string, string>[] = [];
  const inYears = (at: string): boolean => at.startsWith("2024-") || at.startsWith("2025-");

  beforeAll(async () => {
    dir = freshDir();
    await generateDataset(config([], dir));
    txs = records(dir, "transactions");
    items = records(dir, "transaction_items");
    users = records(dir, "users");
    stores = records(dir, "stores");
    menu = records(dir, "menu_items");
  });

  test("headers are exact", () => {
    for (const [folder, header] of Object.entries(GEN_HEADERS)) {
      for (const { rows } of readFolder(dir, folder)) expect(rows[0]).toEqual([...header]);
    }
    expect(readFolder(dir, "transactions").length).toBe(24);
  });

  test("months of 2023 are present", () => {
    const names = readdirSync(join(dir, "transactions"));
    for (const m of ["07", "08", "09", "10", "11", "12"]) expect(names).toContain(`transactions_2023${m}.csv`);
    expect(txs.some((t) => t.created_at!.startsWith("2023-"))).toBe(true);
  });

  test("transaction ids are unique uuids", () => {
    const ids = new Set(txs.map((t) => t.transaction_id));
    expect(ids.size).toBe(txs.length);
    for (const t of txs.slice(0, 1000)) expect(t.transaction_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test("voucher_id often empty, user_id sometimes empty, user ids as floats", () => {
    const noVoucher = txs.filter((t) => t.voucher_id === "").length / txs.length;
    const noUser = txs.filter((t) => t.user_id === "").length / txs.length;
    expect(noVoucher).toBeGreaterThan(0.6);
    expect(noUser).toBeGreaterThan(0.05);
    expect(noUser).toBeLessThan(0.15);
    for (const t of txs) expect(t.user_id).toMatch(/^(\d+\.0)?$/);
    for (const u of users) expect(u.user_id).toMatch(/^\d+$/);
  });

  test("users missing from users, unknown stores", () => {
    const known = new Set(users.map((u) => u.user_id));
    expect(known.size).toBe(2000);
    expect(txs.some((t) => t.user_id !== "" && !known.has(t.user_id!.replace(/\.0$/, "")))).toBe(true);
    const storeIds = new Set(stores.map((s) => s.store_id));
    expect(txs.some((t) => !storeIds.has(t.store_id!))).toBe(true);
  });

  test("pre-1970 birthdates", () => {
    expect(users.some((u) => u.birthdate! < "1970-01-01")).toBe(true);
  });

  test("store names with a comma and a double quote, quoted in the file", () => {
    expect(stores.some((s) => s.store_name!.includes(","))).toBe(true);
    expect(stores.some((s) => s.store_name!.includes('"'))).toBe(true);
    const raw = readFileSync(join(dir, "stores", "stores.csv"), "utf8");
    expect(raw).toContain('"G Coffee @ USJ, 89q"');
    expect(raw).toContain('""');
  });

  test("timestamps on the Q1 window edges, several per month", () => {
    const perMonth = new Map<string, Map<string, number>>();
    for (const t of txs) {
      const month = t.created_at!.slice(0, 7);
      const time = t.created_at!.slice(11);
      const counts = perMonth.get(month) ?? new Map<string, number>();
      counts.set(time, (counts.get(time) ?? 0) + 1);
      perMonth.set(month, counts);
    }
    expect(perMonth.size).toBe(24);
    for (const counts of perMonth.values()) {
      for (const edge of ["05:59:59", "06:00:00", "23:00:00", "23:00:01"]) expect(counts.get(edge) ?? 0).toBeGreaterThanOrEqual(3);
    }
  });

  test("amounts: 75.0 and its neighbours, shortest form, plausible distribution", () => {
    const finals = txs.map((t) => t.final_amount!);
    for (const v of ["75.0", "74.99", "75.01"]) expect(finals).toContain(v);
    for (const t of txs) {
      for (const v of [t.original_amount!, t.discount_applied!, t.final_amount!]) expect(formatCents(parseCents(v))).toBe(v);
    }
    for (const i of items) for (const v of [i.unit_price!, i.subtotal!]) expect(formatCents(parseCents(v))).toBe(v);
    const cents = finals.map(parseCents);
    expect(cents.filter((c) => c >= 500 && c <= 15000).length / cents.length).toBeGreaterThan(0.9);
    expect(cents.filter((c) => c % 25 === 0).length / cents.length).toBeGreaterThan(0.8);
  });

  test("transaction items are consistent with transactions and menu", () => {
    const created = new Map(txs.map((t) => [t.transaction_id!, t.created_at!]));
    const itemIds = new Set(menu.map((m) => m.item_id));
    const perTx = new Map<string, number>();
    for (const i of items) {
      expect(itemIds.has(i.item_id!)).toBe(true);
      expect(created.get(i.transaction_id!)).toBe(i.created_at!);
      expect(parseCents(i.subtotal!)).toBe(Number(i.quantity) * parseCents(i.unit_price!));
      perTx.set(i.transaction_id!, (perTx.get(i.transaction_id!) ?? 0) + 1);
    }
    expect(perTx.size).toBe(txs.length);
    for (const n of perTx.values()) expect(n >= 1 && n <= 4).toBe(true);
  });

  test("Q2 ties: equal top quantity in some month, equal top profit in some month", () => {
    const byMonth = new Map<string, Map<string, { qty: number; profit: number }>>();
    for (const i of items) {
      if (!inYears(i.created_at!)) continue;
      const month = i.created_at!.slice(0, 7);
      const sums = byMonth.get(month) ?? new Map<string, { qty: number; profit: number }>();
      const s = sums.get(i.item_id!) ?? { qty: 0, profit: 0 };
      s.qty += Number(i.quantity);
      s.profit += parseCents(i.subtotal!);
      sums.set(i.item_id!, s);
      byMonth.set(month, sums);
    }
    let qtyTies = 0;
    let profitTies = 0;
    for (const sums of byMonth.values()) {
      const qty = [...sums.values()].map((s) => s.qty).sort((a, b) => b - a);
      const profit = [...sums.values()].map((s) => s.profit).sort((a, b) => b - a);
      if (qty[0] === qty[1]) qtyTies++;
      if (profit[0] === profit[1]) profitTies++;
    }
    expect(qtyTies).toBeGreaterThan(0);
    expect(profitTies).toBeGreaterThan(0);
  });

  test("Q4 ties within the top 3, a top user missing from users, pre-1970 top users", () => {
    const storeIds = new Set(stores.map((s) => s.store_id));
    const counts = new Map<string, Map<string, number>>();
    for (const t of txs) {
      if (!inYears(t.created_at!) || t.user_id === "" || !storeIds.has(t.store_id!)) continue;
      const perUser = counts.get(t.store_id!) ?? new Map<string, number>();
      const user = String(Number(t.user_id));
      perUser.set(user, (perUser.get(user) ?? 0) + 1);
      counts.set(t.store_id!, perUser);
    }
    const birthdates = new Map(users.map((u) => [u.user_id!, u.birthdate!]));
    let tiedStores = 0;
    const topBirthdates: string[] = [];
    for (const perUser of counts.values()) {
      const ranked = [...perUser.entries()].sort((a, b) => b[1] - a[1] || Number(a[0]) - Number(b[0]));
      const top = ranked.slice(0, 4).map(([, n]) => n);
      if (top[0] === top[1] || top[1] === top[2] || top[2] === top[3]) tiedStores++;
      for (const [user] of ranked.slice(0, 3)) topBirthdates.push(birthdates.get(user) ?? "");
    }
    expect(tiedStores).toBeGreaterThan(0);
    expect(topBirthdates).toContain("");
    expect(topBirthdates.some((b) => b !== "" && b < "1970-01-01")).toBe(true);
  });
});
