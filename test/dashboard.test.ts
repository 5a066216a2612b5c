/**
 * The dashboard in a real browser (headless Chromium via playwright-core) against a real
 * `coffee up` cluster with three monitors, while a slow client uploads: every process renders,
 * the leader and term show, the session's progress grows from one poll to the next, nothing is
 * fetched from outside. Leaves a screenshot in the temp directory, or in docs/dashboard.png with
 * COFFEE_UPDATE_SCREENSHOT=1 (a test run must not change tracked files). Skipped without Chromium.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { freeTcpPort } from "../src/ports.ts";
import { generate, runCoffee, slowClient, startCluster, tempDir, until, type TestCluster } from "./harness.ts";

setDefaultTimeout(120_000);

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = process.env.COFFEE_UPDATE_SCREENSHOT === "1" ? join(import.meta.dir, "..", "docs", "dashboard.png") : join(tmpdir(), "coffee-dashboard.png");


/** The page's count of answered polls of /api/state. */
const polls = async (page: Page): Promise<number> => Number((await page.getAttribute("body", "data-polls")) ?? "0");

describe.if(existsSync(CHROMIUM))("dashboard", () => {
  let cluster: TestCluster & { banner: string };
  let browser: Browser;
  let dashboardPort: number;
  const dirs: string[] = [];

  beforeAll(async () => {
    const data = tempDir("dash-data");
    dirs.push(data);
    await generate(data, 92, ["--months", "2024-01..2024-06", "--transactions-per-month", "4000", "--users", "600"]);
    dashboardPort = freeTcpPort();
    cluster = await startCluster({ tag: "dash", extraArgs: ["--monitors", "3", "--dashboard-port", String(dashboardPort)] });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("processes, leader and term, a growing session, nothing from outside; screenshot", async () => {
    const url = `http://127.0.0.1:${dashboardPort}/`;
    expect(cluster.banner).toContain(`dashboard ${url}`);
    const out = tempDir("dash-out");
    dirs.push(out);
    const run = slowClient(cluster.port, dirs[0]!, out, 10, 1);
    await run.underWay;

    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const outside: string[] = [];
    const errors: string[] = [];
    page.on("request", (r) => { if (!r.url().startsWith(url)) outside.push(r.url()); });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    await page.goto(url);

    // Every process of cluster.json has its row, healthy.
    const names = (JSON.parse(readFileSync(join(cluster.stateDir, "cluster.json"), "utf8")) as { name: string }[]).map((e) => e.name);
    expect(names).toContain("monitor-3");
    for (const name of names) await page.waitForSelector(`tr[data-process="${name}"][data-healthy="true"]`, { timeout: 30_000 });
    expect(await page.locator("#procs-body tr").count()).toBe(names.length);

    // The leader and term the monitors agree on (coffee status asks them) show in the header.
    const leader = await until("a leader on the page", async () => { const t = await page.textContent("#leader"); return t && /^monitor-\d+$/.test(t) ? t : null; });
    const status = JSON.parse((await runCoffee(["status", "--state-dir", cluster.stateDir, "--json"])).stdout) as { leader: string; term: number; sessions: unknown[]; queues: unknown[] | null };
    expect(leader).toBe(status.leader);
    expect(await page.textContent("#term")).toBe(String(status.term));
    expect(await page.locator(`tr[data-process="${leader}"] .pill.lead`).count()).toBe(1);
    // coffee status reports the same session and the broker's queues.
    expect(status.sessions.length).toBe(1);
    expect(status.queues?.length).toBeGreaterThan(0);

    // The session's row shows progress that grows between two polls.
    const row = page.locator("tr[data-session]");
    await row.first().waitFor({ timeout: 30_000 });
    const first = { rows: Number(await row.first().getAttribute("data-rows")), poll: await polls(page) };
    const later = await until("the session's rows to grow on a later poll", async () => {
      const rows = Number(await row.first().getAttribute("data-rows"));
      return rows > first.rows ? { rows, poll: await polls(page) } : null;
    });
    expect(later.poll).toBeGreaterThan(first.poll);
    expect(await row.count()).toBe(1);
    // Its age and how long it has not moved, as coffee status shows them.
    expect(await row.first().locator("td").nth(2).textContent()).toMatch(/^\d+ s \/ \d+ s$/);
    expect(await page.locator("#queues-body tr[data-queue]").count()).toBeGreaterThan(0);

    // A few more seconds of throughput history make the picture worth looking at.
    await until("a few more polls", async () => ((await polls(page)) >= later.poll + 4 ? true : null));
    mkdirSync(join(SCREENSHOT, ".."), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    expect(outside).toEqual([]);
    expect(errors).toEqual([]);
    const result = await run.finished;
    expect(result.code).toBe(0);
    // Once the session is done the page says so plainly.
    await page.locator("#sessions-body td.empty").waitFor({ timeout: 30_000 });
    expect(await page.textContent("#sessions-body")).toContain("No open sessions.");
    await page.close();
  });
});
