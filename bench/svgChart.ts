/**
 * A grouped bar chart as a self-contained SVG string: no dependencies, so benchmark results can
 * be committed as a picture that renders on GitHub and in any browser.
 *
 *   writeFileSync("chart.svg", groupedBarChart({ title, yLabel, xLabel, series: ["a", "b"], groups: [{ label: "x", values: [1, 2] }] }));
 */

/** One group of bars along the x axis (say, one dataset size). */
export interface BarGroup {
  label: string;
  /** One value per series, in series order; null leaves a gap (a run that failed). */
  values: readonly (number | null)[];
  /** Drawn as a dashed line across the group (say, a baseline); omitted when absent. */
  marker?: number;
}

/** What to draw. */
export interface BarChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Legend entries, one per bar of a group. */
  series: readonly string[];
  groups: readonly BarGroup[];
  /** Legend text of the group markers. */
  markerLabel?: string;
  /** One fill per series; defaults to a colour-blind-friendly palette. */
  colors?: readonly string[];
  width?: number;
  height?: number;
}

const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

/** Round tick step of 1, 2 or 5 × 10^k so about `target` ticks cover [0, max]. */
export function niceStep(max: number, target = 5): number {
  if (!(max > 0)) return 1;
  const raw = max / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  return step ?? 10 * magnitude;
}

/** Compact axis numbers: 1500 → "1.5k", 2000000 → "2M". */
export function compactNumber(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1e6) return `${+(n / 1e6).toFixed(2)}M`;
  if (abs >= 1e3) return `${+(n / 1e3).toFixed(2)}k`;
  return String(+n.toFixed(2));
}

const escape = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Render a grouped bar chart (pure: same spec, same string). */
export function groupedBarChart(spec: BarChartSpec): string {
  const width = spec.width ?? 900;
  const height = spec.height ?? 480;
  const colors = spec.colors ?? PALETTE;
  // The legend sits on the right, so long series names never overlap bars.
  const margin = { top: 48, right: 200, bottom: 64, left: 80 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const all = spec.groups.flatMap((g) => [...g.values.filter((v): v is number => v !== null), ...(g.marker === undefined ? [] : [g.marker])]);
  const step = niceStep(Math.max(0, ...all));
  const yMax = Math.max(step, Math.ceil(Math.max(0, ...all) / step) * step);
  const y = (v: number): number => margin.top + plotH - (v / yMax) * plotH;
  const groupW = plotW / Math.max(1, spec.groups.length);
  const barW = (groupW * 0.8) / Math.max(1, spec.series.length);
  const color = (i: number): string => colors[i % colors.length] ?? "#888";

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${escape(spec.title)}</text>`,
  ];
  // Integer tick index: adding `step` repeatedly would drift (0.1 + 0.2 ...).
  for (let i = 0; i <= Math.round(yMax / step); i++) {
    const v = i * step;
    out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${margin.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${compactNumber(v)}</text>`);
  }
  spec.groups.forEach((g, gi) => {
    const x0 = margin.left + gi * groupW + groupW * 0.1;
    g.values.forEach((v, si) => {
      if (v === null) return;
      const x = x0 + si * barW;
      out.push(`<rect class="bar" x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW * 0.9).toFixed(1)}" height="${(margin.top + plotH - y(v)).toFixed(1)}" fill="${color(si)}"><title>${escape(`${g.label}, ${spec.series[si] ?? ""}: ${Math.round(v)}`)}</title></rect>`);
    });
    if (g.marker !== undefined) {
      out.push(`<line class="marker" x1="${(x0 - groupW * 0.05).toFixed(1)}" x2="${(x0 + groupW * 0.85).toFixed(1)}" y1="${y(g.marker).toFixed(1)}" y2="${y(g.marker).toFixed(1)}" stroke="#000" stroke-width="2" stroke-dasharray="6 4"><title>${escape(`${g.label}, ${spec.markerLabel ?? "marker"}: ${Math.round(g.marker)}`)}</title></line>`);
    }
    out.push(`<text x="${(margin.left + (gi + 0.5) * groupW).toFixed(1)}" y="${margin.top + plotH + 18}" text-anchor="middle">${escape(g.label)}</text>`);
  });
  // Axes last so they are drawn over the bars' bottom edges.
  out.push(`<line x1="${margin.left}" x2="${margin.left}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#000"/>`);
  out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${margin.top + plotH}" y2="${margin.top + plotH}" stroke="#000"/>`);
  out.push(`<text x="${margin.left + plotW / 2}" y="${height - 16}" text-anchor="middle">${escape(spec.xLabel)}</text>`);
  out.push(`<text transform="translate(20 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(spec.yLabel)}</text>`);
  const lx = margin.left + plotW + 20;
  spec.series.forEach((s, i) => {
    out.push(`<rect x="${lx}" y="${margin.top + i * 20}" width="12" height="12" fill="${color(i)}"/>`);
    out.push(`<text x="${lx + 18}" y="${margin.top + i * 20 + 10}">${escape(s)}</text>`);
  });
  if (spec.groups.some((g) => g.marker !== undefined)) {
    const my = margin.top + spec.series.length * 20 + 6;
    out.push(`<line x1="${lx}" x2="${lx + 12}" y1="${my}" y2="${my}" stroke="#000" stroke-width="2" stroke-dasharray="3 2"/>`);
    out.push(`<text x="${lx + 18}" y="${my + 4}">${escape(spec.markerLabel ?? "marker")}</text>`);
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}
