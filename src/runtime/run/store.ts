// The content-addressed store of node outputs. An entry is a directory named by its key; it is built in a
// staging directory and renamed into place when complete, so an entry that exists is whole — a crash or an error
// leaves no half-written entry, only a staging directory that the next commit of that key removes.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";

/** What node.json in every entry records: which node made it, from what, when. */
export interface EntryInfo {
  key: string;
  node: string;
  kind: string;
  version: number;
  params: Record<string, unknown>;
  inputs: { name: string; node: string; key: string }[];
  alignc: string;
  started: string;
  seconds: number;
  /** The executor's short account of the output (counts, final loss, metrics), shown in logs and the lock. */
  summary: Record<string, unknown>;
}

export const ENTRY_INFO = "node.json";

export class Store {
  constructor(readonly root: string) {}

  dir(key: string): string {
    return path.join(this.root, key.slice(0, 2), key);
  }

  /** The key's scratch directory (created): partial results of an unfinished attempt, kept until the entry is stored. */
  scratch(key: string): string {
    const dir = path.join(this.root, ".partial", key);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  dropScratch(key: string): void {
    rmSync(path.join(this.root, ".partial", key), { recursive: true, force: true });
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
   * directory is removed and nothing is stored.
   */
  async commit(key: string, fill: (staging: string) => Promise<EntryInfo>): Promise<EntryInfo> {
    const target = this.dir(key);
    const staging = path.join(this.root, ".staging", `${key}-${process.pid}`);
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    try {
      const info = await fill(staging);
      writeFileSync(path.join(staging, ENTRY_INFO), `${JSON.stringify(info, null, 2)}\n`);
      mkdirSync(path.dirname(target), { recursive: true });
      if (existsSync(target) && !this.has(key)) rmSync(target, { recursive: true, force: true }); // debris of an old layout
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
