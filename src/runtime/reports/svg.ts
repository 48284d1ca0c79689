// Charts as inline SVG strings, so a report is one self-contained file that needs no script library and no network:
// line charts of per-step metrics, scatter charts of a metric against a swept setting, and the execution graph as
// layered boxes. Every chart has a title, axes with their range, and a <title> per point or line for hover text.
import { escapeHtml } from "./html.ts";

const W = 420;
const H = 220;
const PAD = { left: 52, right: 12, top: 26, bottom: 30 };
/**
 * Okabe and Ito's colour-blind-safe palette (Color Universal Design), in the order series take it: blue, vermillion,
 * bluish green, reddish purple, orange, sky blue, black, and yellow last (faint on white).
 */
export const COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"] as const;
/** Room at the right of a chart for its legend, when it has several series. */
const LEGEND_W = 160;

export interface Series {
  name: string;
  points: [number, number][];
}

function extent(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  let [lo, hi] = [Math.min(...finite), Math.max(...finite)];
  if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

const fmt = (v: number) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : Number(v.toPrecision(3)).toString());

function frame(title: string, xLabel: string, [x0, x1]: [number, number], [y0, y1]: [number, number], body: string, width = W): string {
  const axis = `<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" class="axis"/><line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" class="axis"/>`;
  const labels = [
    `<text x="${PAD.left - 4}" y="${H - PAD.bottom}" text-anchor="end" class="tick">${fmt(y0)}</text>`,
    `<text x="${PAD.left - 4}" y="${PAD.top + 8}" text-anchor="end" class="tick">${fmt(y1)}</text>`,
    `<text x="${PAD.left}" y="${H - PAD.bottom + 14}" class="tick">${fmt(x0)}</text>`,
    `<text x="${W - PAD.right}" y="${H - PAD.bottom + 14}" text-anchor="end" class="tick">${fmt(x1)}</text>`,
    `<text x="${(W + PAD.left) / 2}" y="${H - 4}" text-anchor="middle" class="tick">${escapeHtml(xLabel)}</text>`,
    `<text x="${PAD.left}" y="16" class="chart-title">${escapeHtml(title)}</text>`,
  ];
  return `<svg class="chart" viewBox="0 0 ${width} ${H}" width="${width}" height="${H}" role="img" aria-label="${escapeHtml(title)}">${axis}${labels.join("")}${body}</svg>`;
}

function scales(xs: [number, number], ys: [number, number]) {
  const sx = (x: number) => PAD.left + ((x - xs[0]) / (xs[1] - xs[0])) * (W - PAD.left - PAD.right);
  const sy = (y: number) => H - PAD.bottom - ((y - ys[0]) / (ys[1] - ys[0])) * (H - PAD.top - PAD.bottom);
  return { sx, sy };
}

/** Lines over steps (one per series), with a legend when there are several. */
export function lineChart(title: string, xLabel: string, series: readonly Series[]): string {
  const all = series.flatMap((s) => s.points);
  const xs = extent(all.map((p) => p[0]));
  const ys = extent(all.map((p) => p[1]));
  const { sx, sy } = scales(xs, ys);
  const body = series
    .map((s, i) => {
      const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
      const d = pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
      const color = COLORS[i % COLORS.length];
      const legend =
        series.length > 1
          ? `<text x="${W - PAD.right}" y="${PAD.top + 12 * i}" text-anchor="end" class="tick" fill="${color}">${escapeHtml(s.name)}</text>`
          : "";
      return `<polyline class="series" fill="none" stroke="${color}" stroke-width="1.5" points="${d}"><title>${escapeHtml(s.name)}</title></polyline>${legend}`;
    })
    .join("");
  return frame(title, xLabel, xs, ys, body);
}

/**
 * Points of a metric against a swept setting, one per trial and series (hover: the trial). Each series (a model) has
 * its own colour from the palette, named in a legend at the right when there are several.
 */
export function scatterChart(title: string, xLabel: string, points: readonly { x: number; y: number; label: string; series?: string }[]): string {
  const xs = extent(points.map((p) => p.x));
  const ys = extent(points.map((p) => p.y));
  const { sx, sy } = scales(xs, ys);
  const series = [...new Set(points.map((p) => p.series ?? ""))];
  const color = (name: string | undefined) => COLORS[series.indexOf(name ?? "") % COLORS.length] as string;
  const body = points
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
    .map(
      (p) =>
        `<circle class="point" cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="4" fill="${color(p.series)}"${p.series ? ` data-series="${escapeHtml(p.series)}"` : ""}><title>${escapeHtml(p.label)}</title></circle>`,
    )
    .join("");
  if (series.length < 2) return frame(title, xLabel, xs, ys, body);
  const legend = series
    .map((name, i) => {
      const y = PAD.top + 6 + 15 * i;
      const shown = name.length > 24 ? `${name.slice(0, 23)}…` : name;
      return `<g class="legend-entry"><circle cx="${W + 8}" cy="${y}" r="4" fill="${color(name)}"/><text x="${W + 16}" y="${y + 3.5}" class="legend">${escapeHtml(shown)}</text><title>${escapeHtml(name)}</title></g>`;
    })
    .join("");
  return frame(title, xLabel, xs, ys, `${body}<g class="chart-legend" aria-label="legend">${legend}</g>`, W + LEGEND_W);
}

export interface GraphBox {
  id: string;
  kind: string;
  inputs: string[];
  /** ran, cached, failed or pending: colours the box. */
  status: string;
}

/** The execution graph in layers (a node's layer is its longest path from a source), edges from inputs. */
export function graphSvg(nodes: readonly GraphBox[]): string {
  const layer = new Map<string, number>();
  for (const n of nodes) layer.set(n.id, Math.max(0, ...n.inputs.map((i) => (layer.get(i) ?? -1) + 1)));
  const columns = new Map<number, string[]>();
  for (const n of nodes) columns.set(layer.get(n.id)!, [...(columns.get(layer.get(n.id)!) ?? []), n.id]);
  const [bw, bh, gx, gy] = [150, 34, 40, 14];
  const pos = new Map<string, { x: number; y: number }>();
  for (const [c, ids] of columns) for (const [r, id] of ids.entries()) pos.set(id, { x: 10 + c * (bw + gx), y: 10 + r * (bh + gy) });
  const width = 20 + columns.size * (bw + gx);
  const height = 20 + Math.max(...[...columns.values()].map((ids) => ids.length)) * (bh + gy);
  const edges = nodes.flatMap((n) =>
    n.inputs
      .filter((i) => pos.has(i))
      .map((i) => {
        const [a, b] = [pos.get(i)!, pos.get(n.id)!];
        return `<path class="edge" d="M${a.x + bw},${a.y + bh / 2} C${a.x + bw + gx / 2},${a.y + bh / 2} ${b.x - gx / 2},${b.y + bh / 2} ${b.x},${b.y + bh / 2}"/>`;
      }),
  );
  const boxes = nodes.map((n) => {
    const p = pos.get(n.id)!;
    return `<g class="node ${escapeHtml(n.status)}"><rect x="${p.x}" y="${p.y}" width="${bw}" height="${bh}" rx="5"/><text x="${p.x + 6}" y="${p.y + 14}" class="node-id">${escapeHtml(n.id.length > 22 ? `${n.id.slice(0, 21)}…` : n.id)}</text><text x="${p.x + 6}" y="${p.y + 27}" class="node-kind">${escapeHtml(n.kind)} · ${escapeHtml(n.status)}</text><title>${escapeHtml(`${n.id} (${n.kind}): ${n.status}`)}</title></g>`;
  });
  return `<svg class="graph" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="execution graph">${edges.join("")}${boxes.join("")}</svg>`;
}
