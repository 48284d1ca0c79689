// alignc report: the HTML of a run and of a sweep (self-contained: no URL is fetched), checked as text, and then in
// a real browser — Debian's chromium driven by playwright-core — that the charts rendered, the sample viewer pages
// through pairs and the trials table sorts. The browser part skips with a message when no chromium is installed
// (.ci/run installs it).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { TEST_DEVICE } from "./support/device.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-report-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const ALIGNC = path.resolve("bin/alignc.js");
const CHROMIUM = process.env.ALIGNC_CHROMIUM ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);

const FILE = `align 1
param beta: float in (0, 1] = 0.1
model base = tinyvlm { size: nano, seed: 1 }
dataset pool = shapes { split: train, count: 12, seed: 3, tasks: [describe, pope] }
dataset corrupted = corrupt(pool) { seed: 1 }
phase aligned = dpo(base, corrupted) { objective: { beta: \${beta} }, steps: 4, batch: 4 }
dataset probe = shapes { split: test, count: 6, seed: 5, tasks: [pope, describe] }
evaluate check { models: [base, aligned], on: probe, metrics: [pope, chair] }
sweep betas = grid { over: { beta: [0.1, 0.3] } }
`;

function alignc(args: string[]) {
  const r = spawnSync(process.execPath, [ALIGNC, ...args], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", ALIGNC_DEVICE: TEST_DEVICE },
    timeout: 600_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return r;
}

const file = path.join(dir, "exp.align");
const runDir = path.join(dir, "run");
const sweepDir = path.join(dir, "sweep");
before(() => {
  writeFileSync(file, FILE);
  alignc(["run", file, "--run-dir", runDir]);
  alignc(["sweep", file, "--workers", "2", "--sweep-dir", sweepDir, "--store", path.join(runDir, "store")]);
  alignc(["report", runDir]);
  alignc(["report", sweepDir]);
});

describe("alignc report (HTML)", () => {
  test("a run's report: graph, curves, evaluation table, sample viewer; nothing fetched", () => {
    const html = readFileSync(path.join(runDir, "report.html"), "utf8");
    for (const id of ["graph", "training", "evaluations", "samples"]) assert.match(html, new RegExp(`<section id="${id}">`));
    // Every node of the graph is a box; the phase's loss and reward curves are polylines with points.
    for (const node of ["base", "pool", "corrupted", "aligned.reference", "aligned", "probe", "check"])
      assert.match(html, new RegExp(`<title>${node.replace(".", "\\.")} \\(`));
    assert.match(html, /aria-label="aligned: loss"/);
    assert.match(html, /aria-label="aligned: rewards\/margins"/);
    assert.match(html, /<polyline class="series" [^>]*points="[\d.]+,[\d.]+ [\d.]+,[\d.]+ [\d.]+,[\d.]+ [\d.]+,[\d.]+"/);
    assert.match(html, /<th>POPE acc<\/th>/);
    // The corrupted pairs, with images inlined.
    assert.match(html, /<h3>corrupted <span class="muted">\d+ pairs/);
    assert.match(html, /<img alt="the item's image" src="data:image\/png;base64,/);
    assert.match(html, /edits: /);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, "no external resources");
  });

  test("a run's report shows every node's settings, the defaults marked", () => {
    const html = readFileSync(path.join(runDir, "report.html"), "utf8");
    assert.match(html, /<nav>.*<a href="#settings">Settings<\/a>/);
    const section = /<section id="settings">(.*?)<\/section>/s.exec(html)?.[1] ?? "";
    const row = (node: string, setting: string) =>
      new RegExp(
        `<tr( class="default")?><td>${node.replace(".", "\\.")}</td><td>${setting.replace(".", "\\.")}</td><td>([^<]*)</td><td>(set|default)</td></tr>`,
      ).exec(section);
    const setting = (node: string, key: string) => {
      const m = row(node, key);
      assert.ok(m, `${node} ${key} in the settings table`);
      return { value: m[2], from: m[3], marked: m[1] !== undefined };
    };
    // Written in the file (β through a param): set; what the file left out: the catalog's default, marked.
    assert.deepEqual(setting("aligned", "objective.beta"), { value: "0.1", from: "set", marked: false });
    assert.deepEqual(setting("aligned", "steps"), { value: "4", from: "set", marked: false });
    assert.deepEqual(setting("aligned", "objective.label_smoothing"), { value: "0", from: "default", marked: true });
    assert.equal(setting("aligned", "optimizer.lr").from, "default");
    assert.equal(setting("corrupted", "seed").from, "set");
    assert.equal(setting("probe", "bias").from, "default");
    assert.deepEqual(setting("check", "metrics"), { value: "[&quot;pope&quot;,&quot;chair&quot;]", from: "set", marked: false });
    // Generated nodes carry their declaration's: the answers' generation settings were not written.
    assert.equal(setting("check.answers.aligned", "max_tokens").from, "default");
    // Inputs are the graph's edges, not settings.
    assert.doesNotMatch(section, /<td>aligned<\/td><td>(model|pairs)<\/td>/);
    assert.equal(setting("aligned", "reference").value, "precomputed");
  });

  test("a sweep's report: sortable trials table and figures by swept setting", () => {
    const html = readFileSync(path.join(sweepDir, "report.html"), "utf8");
    assert.match(html, /<table class="sortable" id="trials">/);
    assert.match(html, /2 of 2 trials ok/);
    assert.match(html, /aria-label="POPE acc by beta"/);
    assert.equal((html.match(/<circle class="point"/g) ?? []).length >= 4, true, "a point per trial and model");
    assert.match(html, /<section id="trial-graph">/);
    // Each model has its own colour in every chart, named in the chart's legend.
    const chart = /<svg class="chart"[^>]*aria-label="POPE acc by beta">(.*?)<\/svg>/s.exec(html)?.[1] ?? "";
    const colourOf = new Map<string, Set<string>>();
    for (const m of chart.matchAll(/<circle class="point" [^>]*fill="(#[0-9A-Fa-f]{6})" data-series="([^"]+)"/g))
      colourOf.set(m[2] as string, new Set([...(colourOf.get(m[2] as string) ?? []), m[1] as string]));
    assert.deepEqual([...colourOf.keys()].sort(), ["check/aligned", "check/base"]);
    for (const [model, colours] of colourOf) assert.equal(colours.size, 1, `${model} is drawn in one colour`);
    const [a, b] = [...colourOf.values()].map((c) => [...c][0]);
    assert.notEqual(a, b, "two models, two colours");
    const legend = [...chart.matchAll(/<g class="legend-entry"><circle [^>]*fill="(#[0-9A-Fa-f]{6})"\/><text [^>]*>([^<]*)<\/text>/g)].map((m) => [m[2], m[1]]);
    assert.deepEqual(Object.fromEntries(legend), Object.fromEntries([...colourOf].map(([model, c]) => [model, [...c][0]])));
  });

  test("a directory that is neither a run nor a sweep is refused", () => {
    const r = spawnSync(process.execPath, [ALIGNC, "report", dir], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /is neither a run directory \(plan\.json\) nor a sweep directory \(sweep\.json\)/);
  });
});

describe("alignc report in a browser", { skip: CHROMIUM ? false : "no chromium (apt-get install chromium, or set ALIGNC_CHROMIUM)" }, () => {
  test("charts render, the sample viewer pages, the trials table sorts", { timeout: 120_000 }, async () => {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1250, height: 1400 } });
      const requests: string[] = [];
      page.on("request", (r) => {
        if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) requests.push(r.url());
      });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`file://${path.join(runDir, "report.html")}`);
      // Charts laid out with a size, lines drawn.
      const chart = await page.locator("svg.chart").first().boundingBox();
      assert.ok(chart && chart.width > 100 && chart.height > 100);
      assert.ok((await page.locator("svg.chart polyline.series").count()) >= 3);
      // The viewer shows one pair at a time and pages through them.
      const viewer = page.locator(".viewer").first();
      const position = viewer.locator(".position");
      const total = Number((await position.textContent())!.split("/")[1]);
      assert.equal(await position.textContent(), `1 / ${total}`);
      assert.equal(await viewer.locator(".sample:visible").count(), 1);
      const first = await viewer.locator(".sample:visible").textContent();
      await viewer.locator(".next").click();
      assert.equal(await position.textContent(), `2 / ${total}`);
      assert.notEqual(await viewer.locator(".sample:visible").textContent(), first);
      await viewer.locator(".prev").click();
      await viewer.locator(".prev").click();
      assert.equal(await position.textContent(), `${total} / ${total}`, "previous wraps around");
      assert.ok(await viewer.locator(".sample:visible img").isVisible());
      await page.screenshot({ path: path.join(dir, "run-report.png"), fullPage: false });

      // The sweep's table sorts by beta, descending on the second click.
      await page.goto(`file://${path.join(sweepDir, "report.html")}`);
      const betas = async () => page.locator("#trials tbody tr td:nth-child(3)").allTextContents();
      const header = page.locator("#trials th", { hasText: "beta" });
      await header.click();
      const ascending = await betas();
      await header.click();
      assert.deepEqual(await betas(), [...ascending].reverse());
      assert.deepEqual(
        ascending.map(Number),
        [...ascending.map(Number)].sort((a, b) => a - b),
      );
      assert.ok((await page.locator("svg.chart circle.point").count()) >= 4);
      assert.deepEqual(errors, []);
      assert.deepEqual(requests, [], "the report loads nothing from the network");
    } finally {
      await browser.close();
    }
  });
});
