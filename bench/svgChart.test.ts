import { describe, expect, test } from "bun:test";
import { compactNumber, groupedBarChart, niceStep } from "./svgChart.ts";

describe("svgChart", () => {
  test("nice steps are 1, 2 or 5 times a power of ten", () => {
    expect(niceStep(100)).toBe(20);
    expect(niceStep(730_000)).toBe(200_000);
    expect(niceStep(0.9)).toBe(0.2);
    expect(niceStep(0)).toBe(1);
  });

  test("compact numbers", () => {
    expect(compactNumber(0)).toBe("0");
    expect(compactNumber(1500)).toBe("1.5k");
    expect(compactNumber(2_000_000)).toBe("2M");
  });

  test("one bar per non-null value, a marker per group that has one, escaped labels, legend", () => {
    const svg = groupedBarChart({
      title: "rows/s <by> size & load",
      xLabel: "rows",
      yLabel: "rows/s",
      series: ["1 replica", "2 replicas"],
      groups: [
        { label: "60k", values: [100, 200], marker: 150 },
        { label: "300k", values: [null, 400] },
      ],
      markerLabel: "reference",
    });
    expect(svg.startsWith("<svg xmlns=\"http://www.w3.org/2000/svg\"")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg.match(/<rect class="bar"/g)?.length).toBe(3);
    expect(svg.match(/<line class="marker"/g)?.length).toBe(1);
    expect(svg).toContain("rows/s &lt;by&gt; size &amp; load");
    expect(svg).not.toContain("<by>");
    for (const label of ["1 replica", "2 replicas", "reference", "60k", "300k"]) expect(svg).toContain(`>${label}<`);
    // Same input, same output: the chart can be regenerated and diffed.
    expect(groupedBarChart({ title: "t", xLabel: "x", yLabel: "y", series: ["a"], groups: [{ label: "g", values: [1] }] }))
      .toBe(groupedBarChart({ title: "t", xLabel: "x", yLabel: "y", series: ["a"], groups: [{ label: "g", values: [1] }] }));
  });

  test("the tallest bar fits under the top tick", () => {
    const svg = groupedBarChart({ title: "t", xLabel: "x", yLabel: "y", series: ["a"], groups: [{ label: "g", values: [730_000] }] });
    expect(svg).toContain(">800k<");
    expect(svg).not.toContain(">1M<");
  });
});
