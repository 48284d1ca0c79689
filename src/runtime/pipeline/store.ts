// The content-addressed store of node outputs. An entry is a directory named by its key; it is built in a
// staging directory and renamed into place when complete, so an entry that exists is whole — a crash or an error
// leaves no half-written entry, only a staging directory, removed at the start of the next run (heal).
//
// Staging directories are named <key>-<host>-<pid>-<random>, created exclusively (mkdtemp): no two attempts share
// one, nothing planted at a predictable name is used, and the name says whose it is — so `heal` removes exactly
// those of processes that are gone on this host, and keeps those of live runs and of other hosts.
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { mkdirInside, removeInside, resolveInside } from "../../util/safe-write.ts";
import { alive } from "./claims.ts";
import type { CodeRecord } from "./executor-code.ts";

/** What node.json in every entry records: which node made it, from what, when. */
export interface EntryInfo {
  key: string;
  node: string;
  kind: string;
  version: number;
  params: Record<string, unknown>;
  inputs: { name: string; node: string; key: string }[];
  alignc: string;
  /**
   * The code that made it: a digest of the executor module's source closure (executor-code.ts). Not part of the key;
   * `alignc plan` compares it with the current sources. Absent in entries made before it was recorded.
   */
  code?: CodeRecord;
  started: string;
  seconds: number;
  /** The executor's short account of the output (counts, final loss, metrics), shown in logs and the lock. */
  summary: Record<string, unknown>;
}

export const ENTRY_INFO = "node.json";

/** This host's name as it appears in staging directory names (no "-", which separates the name's parts). */
export const hostTag = (host = os.hostname()): string => host.replace(/[^A-Za-z0-9.]/g, "_") || "host";

/** The owner of a staging directory, from its name; undefined for names alignc did not make. */
export function stagingOwner(name: string): { key: string; host?: string; pid: number } | undefined {
  const current = /^(.+)-([A-Za-z0-9._]+)-(\d+)-[A-Za-z0-9]{6}$/.exec(name);
  if (current) return { key: current[1] as string, host: current[2] as string, pid: Number(current[3]) };
  const old = /^([0-9a-f]+)-(\d+)$/.exec(name); // <key>-<pid>, before staging names said the host
  if (old) return { key: old[1] as string, pid: Number(old[2]) };
  return undefined;
}

export class Store {
  constructor(readonly root: string) {}

  dir(key: string): string {
    return path.join(this.root, key.slice(0, 2), key);
  }

  /** The key's scratch directory (created): partial results of an unfinished attempt, kept until the entry is stored. */
  scratch(key: string): string {
    const dir = path.join(this.root, ".partial", key);
    mkdirInside(this.root, dir);
    return dir;
  }

  /**
   * At the start of a run: removes the staging directories of processes that are gone (a crash, SIGKILL). Only
   * this host's can be checked; those of live processes and of other hosts are kept. Returns the names removed.
   */
  heal(): string[] {
    // Checked like every folder alignc writes in: a .staging link leading out of the store is refused.
    const dir = resolveInside(this.root, path.join(this.root, ".staging"));
    if (dir === undefined) return [];
    const names = readdirSync(dir);
    const removed: string[] = [];
    for (const name of names) {
      const owner = stagingOwner(name);
      if (!owner || (owner.host !== undefined && owner.host !== hostTag()) || owner.pid === process.pid || alive(owner.pid)) continue;
      rmSync(path.join(dir, name), { recursive: true, force: true });
      removed.push(name);
    }
    return removed;
  }

  dropScratch(key: string): void {
    removeInside(this.root, path.join(this.root, ".partial", key));
  }

  has(key: string): boolean {
    return existsSync(path.join(this.dir(key), ENTRY_INFO));
  }

  info(key: string): EntryInfo {
    return JSON.parse(readFileSync(path.join(this.dir(key), ENTRY_INFO), "utf8")) as EntryInfo;
  }

  /**
   * Builds the entry for `key`: `fill` writes the outputs into an empty staging directory and returns the
   * entry's info; then node.json is written and the directory renamed into place. If `fill` throws, the staging
   * directory is removed and nothing is stored. An entry already stored under the key is kept (equal keys mean equal
   * content), unless `replace` (`alignc run --force`) asks for the new output.
   */
  async commit(key: string, fill: (staging: string) => Promise<EntryInfo>, options: { replace?: boolean } = {}): Promise<EntryInfo> {
    const target = this.dir(key);
    // Files inside staging need no care of their own: the directory is new, ours alone, and renamed whole.
    const stagingRoot = mkdirInside(this.root, path.join(this.root, ".staging"));
    const staging = mkdtempSync(path.join(stagingRoot, `${key}-${hostTag()}-${process.pid}-`));
    try {
      const info = await fill(staging);
      writeFileSync(path.join(staging, ENTRY_INFO), `${JSON.stringify(info, null, 2)}\n`);
      mkdirInside(this.root, path.dirname(target));
      if (existsSync(target) && !this.has(key)) rmSync(target, { recursive: true, force: true }); // debris of an old layout
      // `--force`: the new output replaces the stored one. The old entry is first renamed out of the way (whole, in one
      // step), so the key never holds a mix of the two.
      if (options.replace && this.has(key)) {
        const old = `${staging}.replaced`;
        renameSync(target, old);
        rmSync(old, { recursive: true, force: true });
      }
      try {
        renameSync(staging, target);
      } catch (e) {
        // Another process stored the same key first: equal keys mean equal content, keep theirs.
        if (!this.has(key)) throw e;
        rmSync(staging, { recursive: true, force: true });
      }
      return this.info(key);
    } catch (e) {
      rmSync(staging, { recursive: true, force: true });
      throw e;
    }
  }

  /** Keys of all complete entries. */
  keys(): string[] {
    if (!existsSync(this.root)) return [];
    const out: string[] = [];
    for (const shard of readdirSync(this.root)) {
      if (shard.startsWith(".")) continue;
      const dir = path.join(this.root, shard);
      if (!statSync(dir).isDirectory()) continue;
      for (const key of readdirSync(dir)) if (this.has(key)) out.push(key);
    }
    return out.sort();
  }
}
