// The node-kind table (src/graph/node-kinds.ts) is the one contract between the checker's catalog and the
// runtime's executors: every constructor names a kind of the table, every kind has an executor unless the table says
// why not (and then the checker refuses it), every executor is a kind of the table with the table's version, and the
// files a checkpoint directory must hold are one list.
import assert from "node:assert/strict";
import { test } from "node:test";
import { allCtors } from "../src/compiler/checker/catalog/index.ts";
import { NODE_KINDS, type NodeKindSpec } from "../src/graph/node-kinds.ts";
import { CHECKPOINT_FILES } from "../src/runtime/models/checkpoint.ts";
import { EXECUTORS } from "../src/runtime/pipeline/executors/index.ts";

const kinds = Object.entries(NODE_KINDS) as [string, NodeKindSpec][];

test("every constructor of the catalog makes a node kind of the table", () => {
  const unknown = allCtors.filter((c) => c.node !== undefined && !(c.node in NODE_KINDS)).map((c) => `${c.name} → ${c.node}`);
  assert.deepEqual(unknown, []);
});

test("every node kind has an executor, or says why alignc run cannot run it; and no executor runs a kind the table lacks", () => {
  const missing = kinds.filter(([kind, spec]) => !EXECUTORS.has(kind) && spec.notRunnable === undefined).map(([kind]) => kind);
  assert.deepEqual(missing, [], "kinds without an executor: add one, or a notRunnable reason");
  const both = kinds.filter(([kind, spec]) => EXECUTORS.has(kind) && spec.notRunnable !== undefined).map(([kind]) => kind);
  assert.deepEqual(both, [], "kinds with an executor that the table says cannot run: remove notRunnable");
  const extra = [...EXECUTORS.keys()].filter((kind) => !(kind in NODE_KINDS));
  assert.deepEqual(extra, [], "executors of kinds the table does not declare");
});

test("every executor carries its kind's version from the table", () => {
  for (const [kind, executor] of EXECUTORS) {
    assert.equal(executor.kind, kind);
    assert.equal(executor.version, (NODE_KINDS as Record<string, NodeKindSpec>)[kind]?.version, kind);
  }
});

test("settings the runtime does not implement name settings the catalog has", () => {
  for (const [kind, spec] of kinds) {
    for (const u of spec.unsupported ?? []) {
      const ctors = allCtors.filter((c) => c.node === kind);
      assert.ok(ctors.length > 0, `${kind}: no constructor`);
      for (const c of ctors) {
        let fields: Record<string, unknown> | undefined = c.fields as Record<string, unknown>;
        const keys = u.setting.split(".");
        for (const [i, key] of keys.entries()) {
          const field = fields?.[key] as { type?: { t: string; fields?: Record<string, unknown> } } | undefined;
          assert.ok(field, `${kind}: ${c.name} has no setting ${keys.slice(0, i + 1).join(".")}`);
          fields = field.type?.fields;
        }
      }
    }
  }
});

test("the checker looks for the files of a checkpoint directory that the runtime writes", () => {
  const checkpoint = allCtors.find((c) => c.name === "checkpoint");
  const holds = (checkpoint?.args[0]?.type as { path?: { holds?: readonly string[] } } | undefined)?.path?.holds;
  assert.deepEqual([...(holds ?? [])].sort(), [...CHECKPOINT_FILES].sort());
});
