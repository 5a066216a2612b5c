/**
 * Reading Prometheus text in tests through an independent parser (parse-prometheus-text-format),
 * so what the tests check is what a Prometheus server would scrape, not prom-client's own view.
 */
import parsePrometheusTextFormat, { type ParsedFamily, type ParsedSample } from "parse-prometheus-text-format";

/** A parsed exposition. */
export interface Scrape {
  /** Metric families by name, with their TYPE and HELP. */
  families: Map<string, ParsedFamily>;
  /**
   * Every sample by series name (`x_bucket`, `x_sum`, `x_count` for a histogram `x`), as a
   * Prometheus server stores them. The parser folds a histogram's series into one only when it
   * has no labels, and ours always have some (role, name): parsing the text once more without
   * its comment lines gives each series its own untyped family, labels intact.
   */
  series: Map<string, ParsedSample[]>;
}

/** Parse exposition text; every family must carry a HELP line. */
export function parseScrape(text: string): Scrape {
  const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  for (const f of families.values()) if (f.help === "") throw new Error(`metric ${f.name} has no HELP line`);
  const series = new Map<string, ParsedSample[]>();
  const bare = text.split("\n").filter((l) => !l.startsWith("#")).join("\n");
  for (const f of parsePrometheusTextFormat(bare)) series.set(f.name, [...(series.get(f.name) ?? []), ...f.metrics]);
  return { families, series };
}

/** Sum of the values of series `name` over every sample whose labels include `labels` (0 when none). */
export function total(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  return (scrape.series.get(name) ?? [])
    .filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    .reduce((sum, m) => sum + Number(m.value ?? "0"), 0);
}

/** Observations of histogram `name` over the series matching `labels`. */
export function histogramCount(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  if (scrape.families.get(name)?.type !== "HISTOGRAM") throw new Error(`${name} is not a histogram`);
  return total(scrape, `${name}_count`, labels);
}

/** GET a /metrics endpoint and parse it; checks status and content type on the way. */
export async function scrape(port: number, host = "127.0.0.1"): Promise<Scrape> {
  const res = await fetch(`http://${host}:${port}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics on ${host}:${port}: HTTP ${res.status}`);
  const type = res.headers.get("content-type") ?? "";
  if (!type.startsWith("text/plain")) throw new Error(`GET /metrics on ${host}:${port}: content type ${type}`);
  return parseScrape(await res.text());
}
