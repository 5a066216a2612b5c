/** The dashboard's stylesheet: system fonts only (nothing is fetched from anywhere). */
export const DASHBOARD_CSS = `
:root {
  --bg: #f4f5f7; --card: #ffffff; --ink: #1d2430; --muted: #667085; --line: #e4e7ec;
  --ok: #16a34a; --ok-bg: #dcfce7; --bad: #dc2626; --bad-bg: #fee2e2; --warn: #b45309; --warn-bg: #fef3c7;
  --accent: #6f4e37; --accent-2: #c08552; --accent-bg: #f6ede6;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Liberation Sans", Arial, sans-serif; }
header { background: #2b1d14; color: #fff; padding: 14px 28px; display: flex; align-items: center; gap: 16px; flex-wrap: wrap; }
header h1 { margin: 0; font-size: 19px; font-weight: 650; letter-spacing: .2px; }
header h1 span { color: #e0b793; font-weight: 500; }
header .meta { margin-left: auto; display: flex; gap: 18px; align-items: center; color: #d9cbbf; font-size: 13px; }
header .live { display: inline-flex; align-items: center; gap: 6px; }
header .live::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--ok); box-shadow: 0 0 0 3px rgba(22,163,74,.25); }
header .live.lost::before { background: var(--bad); box-shadow: 0 0 0 3px rgba(220,38,38,.3); }
main { max-width: 1280px; margin: 0 auto; padding: 20px 28px 40px; }
.banner { display: none; background: var(--bad-bg); color: var(--bad); border: 1px solid #fecaca; padding: 8px 12px; border-radius: 8px; margin-bottom: 16px; }
.banner.show { display: block; }
.cards { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: 14px; margin-bottom: 18px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .06em; }
.card .value { font-size: 24px; font-weight: 650; margin-top: 2px; font-variant-numeric: tabular-nums; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.card .value.bad { color: var(--bad); }
.card .sub { color: var(--muted); font-size: 12.5px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.grid2 { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 18px; margin-bottom: 18px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px 12px; margin-bottom: 18px; }
.grid2 section { margin-bottom: 0; display: flex; flex-direction: column; }
section h2 { margin: 0 0 10px; font-size: 14px; font-weight: 650; display: flex; align-items: baseline; gap: 10px; }
section h2 small { color: var(--muted); font-weight: 400; font-size: 12.5px; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th { text-align: left; color: var(--muted); font-weight: 600; font-size: 11.5px; text-transform: uppercase; letter-spacing: .05em; padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td { padding: 6px 8px; border-bottom: 1px solid #f0f1f4; vertical-align: middle; white-space: nowrap; }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; }
tr.idle td { color: #a0a7b4; }
td.info { white-space: normal; color: var(--muted); font-size: 13px; }
.mono { font-family: var(--mono); font-size: 12.5px; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.pill.ok { background: var(--ok-bg); color: var(--ok); }
.pill.bad { background: var(--bad-bg); color: var(--bad); }
.pill.warn { background: var(--warn-bg); color: var(--warn); }
.pill.lead { background: var(--accent-bg); color: var(--accent); margin-left: 6px; }
.empty { color: var(--muted); padding: 18px 8px; text-align: center; font-style: italic; }
.progress { display: flex; align-items: center; gap: 6px; }
.progress .rows { min-width: 54px; text-align: right; }
.check { color: var(--ok); font-weight: 700; }
.pending { color: #b9c0cc; }
.bar { height: 6px; background: #eef0f3; border-radius: 3px; min-width: 80px; overflow: hidden; }
.bar > div { height: 100%; background: var(--accent-2); border-radius: 3px; }
.chart { position: relative; flex: 1; min-height: 150px; }
.chart svg { position: absolute; inset: 0; display: block; width: 100%; height: 100%; }
.axis { display: flex; justify-content: space-between; color: var(--muted); font-size: 12px; margin-top: 4px; }
.chart .ylabel { position: absolute; left: 4px; color: var(--muted); font-size: 12px; background: rgba(255,255,255,.85); padding: 0 4px; line-height: 16px; }
/* The chart draws its gridlines at 8/150 and 79/150 of its height (script.ts). */
.chart .ymax { top: calc(5.33% - 8px); }
.chart .ymid { top: calc(52.67% - 8px); }
@media (max-width: 900px) { .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); } .grid2 { grid-template-columns: 1fr; } }
`;
