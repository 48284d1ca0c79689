// Claims on store keys: which process is computing a key right now. Runs that share a store — the trials of a sweep
// run side by side — would otherwise compute the same upstream node (the pairs a sweep over β shares) at once; the
// first to claim a key computes it, the others wait for its entry and then use it as stored.
//
// A claim is a file created exclusively (store/.claims/<key>.json) holding the claimant's pid and host. A claim of
// this host whose process is gone (a crash, SIGKILL) is taken over; a claim of another host (a store on a shared
// filesystem) cannot be checked and is trusted until its holder removes it.
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Store } from "./store.ts";

export interface ClaimHolder {
  pid: number;
  host: string;
  started: string;
}

export class KeyClaims {
  private readonly dir: string;

  constructor(
    private readonly store: Store,
    private readonly pollMs = 250,
  ) {
    this.dir = path.join(store.root, ".claims");
  }

  private file(key: string): string {
    return path.join(this.dir, `${key}.json`);
  }

  /**
   * Claims `key` for this process ("claimed"), or waits while another live process holds it and returns "stored"
   * once its entry exists. `onWait` is called once, with the holder, when this process starts waiting.
   */
  async acquire(key: string, onWait: (holder: ClaimHolder) => void): Promise<"claimed" | "stored"> {
    mkdirSync(this.dir, { recursive: true });
    let waiting = false;
    for (;;) {
      if (this.store.has(key)) return "stored";
      const me: ClaimHolder = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
      try {
        writeFileSync(this.file(key), `${JSON.stringify(me)}\n`, { flag: "wx" });
        // The holder may have stored the entry and released its claim between the check above and this claim.
        if (this.store.has(key)) {
          this.release(key);
          return "stored";
        }
        return "claimed";
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const holder = this.holder(key);
      if (!holder && this.tornFor(key) > 5000) {
        // A claim whose writer died while writing it.
        rmSync(this.file(key), { force: true });
        continue;
      }
      if (holder && holder.host === os.hostname() && (holder.pid === process.pid || !alive(holder.pid))) {
        // Ours from an earlier attempt in this process, or left by a process that died: take it over.
        rmSync(this.file(key), { force: true });
        continue;
      }
      if (holder && !waiting) {
        waiting = true;
        onWait(holder);
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  release(key: string): void {
    const holder = this.holder(key);
    if (holder && holder.pid === process.pid && holder.host === os.hostname()) rmSync(this.file(key), { force: true });
  }

  /** How long the claim file has existed unreadable (ms; 0 when it is readable or gone). */
  private tornFor(key: string): number {
    try {
      return Date.now() - statSync(this.file(key)).mtimeMs;
    } catch {
      return 0;
    }
  }

  /** The claim's holder; undefined when there is none, or while its writer is still writing it. */
  private holder(key: string): ClaimHolder | undefined {
    try {
      return JSON.parse(readFileSync(this.file(key), "utf8")) as ClaimHolder;
    } catch {
      return undefined;
    }
  }
}

/** Whether a process with this pid exists on this host (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
