// The report page: escaping, tables, and the one HTML shell (inline CSS and a few lines of script for sortable
// tables and the sample viewer). Nothing is loaded from anywhere: the file works offline and makes no requests.

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** A table; `sortable` makes its header cells sort the rows (numbers numerically); `rowClass` gives a row a class. */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  options: { sortable?: boolean; id?: string; rowClass?: (row: readonly string[]) => string | undefined } = {},
): string {
  const head = `<tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr>`;
  const body = rows
    .map((r) => {
      const cls = options.rowClass?.(r);
      return `<tr${cls ? ` class="${escapeHtml(cls)}"` : ""}>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`;
    })
    .join("");
  return `<table${options.sortable ? ' class="sortable"' : ""}${options.id ? ` id="${escapeHtml(options.id)}"` : ""}><thead>${head}</thead><tbody>${body}</tbody></table>`;
}

export interface Section {
  id: string;
  title: string;
  /** HTML. */
  body: string;
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 16px 24px; color: #111; }
h1 { font-size: 22px; } h2 { font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 28px; }
nav a { margin-right: 12px; } table { border-collapse: collapse; margin: 8px 0; } th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
th { background: #f5f5f5; } table.sortable th { cursor: pointer; } table.sortable th::after { content: " ⇅"; color: #999; }
.charts { display: flex; flex-wrap: wrap; gap: 8px; } .chart { border: 1px solid #eee; background: #fff; }
.axis { stroke: #888; } .tick { font-size: 10px; fill: #555; } .chart-title { font-size: 12px; font-weight: 600; }
.graph .edge { fill: none; stroke: #999; } .graph rect { fill: #eef2ff; stroke: #6366f1; } .graph .cached rect { fill: #f1f5f9; stroke: #94a3b8; }
.graph .failed rect { fill: #fee2e2; stroke: #dc2626; } .node-id { font-size: 11px; font-weight: 600; } .node-kind { font-size: 9px; fill: #555; }
.viewer { border: 1px solid #ddd; padding: 8px; } .sample[hidden] { display: none; } .sample img { image-rendering: pixelated; width: 144px; height: 144px; float: left; margin-right: 12px; }
.answer { white-space: pre-wrap; margin: 4px 0; padding: 4px 6px; } .chosen { background: #ecfdf5; } .rejected { background: #fef2f2; }
.tries { clear: both; font-size: 12px; } .muted { color: #666; } .scroll { overflow-x: auto; }
tr.default td { color: #777; } tr.default td:last-child { font-style: italic; }
.legend { font-size: 10px; }
`;

// Sortable tables and the sample viewers' previous/next buttons.
const SCRIPT = `
for (const t of document.querySelectorAll("table.sortable")) {
  t.querySelectorAll("th").forEach((th, col) => th.addEventListener("click", () => {
    const rows = [...t.tBodies[0].rows];
    const dir = th.dataset.dir === "asc" ? -1 : 1; th.dataset.dir = dir === 1 ? "asc" : "desc";
    const key = (r) => { const s = r.cells[col].textContent.trim(); const n = parseFloat(s); return Number.isNaN(n) ? s : n; };
    rows.sort((a, b) => { const x = key(a), y = key(b); return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * dir; });
    for (const r of rows) t.tBodies[0].appendChild(r);
  }));
}
for (const v of document.querySelectorAll(".viewer")) {
  const samples = [...v.querySelectorAll(".sample")]; let i = 0;
  const show = (k) => { i = (k + samples.length) % samples.length; samples.forEach((s, j) => { s.hidden = j !== i; }); v.querySelector(".position").textContent = (i + 1) + " / " + samples.length; };
  v.querySelector(".prev").addEventListener("click", () => show(i - 1)); v.querySelector(".next").addEventListener("click", () => show(i + 1)); show(0);
}
`;

export function page(title: string, sections: readonly Section[]): string {
  const nav = sections.map((s) => `<a href="#${escapeHtml(s.id)}">${escapeHtml(s.title)}</a>`).join("");
  const body = sections.map((s) => `<section id="${escapeHtml(s.id)}"><h2>${escapeHtml(s.title)}</h2>${s.body}</section>`).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1><nav>${nav}</nav>
${body}
<script>${SCRIPT}</script></body></html>
`;
}
