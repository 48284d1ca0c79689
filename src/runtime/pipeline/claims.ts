// Claims on store keys: which process is computing a key right now. Runs that share a store — the trials of a sweep
// run side by side — would otherwise compute the same upstream node (the pairs a sweep over β shares) at once; the
// first to claim a key computes it, the others wait for its entry and then use it as stored.
//
// A claim is store/.claims/<key>.json holding the claimant's pid, host and a random nonce. It is written whole to a
// temporary file and hard-linked to its name: link() creates the name atomically and fails when it exists, so a
// claim is never seen half-written and only one process can create it.
//
// A claim of this host whose process is gone (a crash, SIGKILL) is stale and taken over; a claim of another host (a
// store on a shared filesystem) cannot be checked and is trusted until its holder removes it. Taking over must not
// let two processes win: if racers A and B both see the stale claim S, A removes S and claims, and B then removes
// A's fresh claim thinking it is S, both compute the key. So removing a stale claim needs a ticket that only one
// racer can get: link(<key>.json, <key>.json.stale-<S's nonce>). That name can be created once; the racer that
// creates it reads it back — it is the same file as the claim at the moment of linking — and only if it is S (its
// nonce) may it remove <key>.json, which at that point can only still be S (nobody else holds S's ticket, and S's
// holder is dead). Then it competes for the claim like everyone else, by link(). Losers wait and look again. A racer
// that links the ticket after the claim has already been replaced reads a different nonce, drops its ticket, and
// retries: it never removes a claim it has not verified. A ticket whose maker died before removing it is removed
// once it is older than a few seconds (takeovers take microseconds), after which the takeover can happen again.
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  fstatSync,
  linkSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { mkdirInside, resolveInside } from "../../util/safe-write.ts";
import type { Store } from "./store.ts";

export interface ClaimHolder {
  pid: number;
  host: string;
  started: string;
  /** Random, one per claim: what tells one claim from another (absent in claims of alignc before 0.1.x). */
  nonce?: string;
}

/** A claim as read: its holder (undefined when unreadable) and an identity unique to this claim file. */
interface ReadClaim {
  holder: ClaimHolder | undefined;
  id: string;
  /** When the file was last written (ms). */
  mtimeMs: number;
}

const TICKET = ".stale-";

/** A ticket older than this is taken to belong to a racer that died mid-takeover. */
const TICKET_TIMEOUT_MS = 10_000;
/** A claim that cannot be read for this long was torn by an old writer that died while writing it. */
const TORN_MS = 5000;

export class KeyClaims {
  private readonly dir: string;
  /** The nonce of each claim this process holds. */
  private readonly mine = new Map<string, string>();

  constructor(
    private readonly store: Store,
    private readonly pollMs = 250,
    private readonly ticketTimeoutMs = TICKET_TIMEOUT_MS,
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
    mkdirInside(this.store.root, this.dir);
    let waiting = false;
    for (;;) {
      if (this.store.has(key)) return "stored";
      if (this.tryCreate(key)) {
        // The holder may have stored the entry and released its claim between the check above and this claim.
        if (this.store.has(key)) {
          this.release(key);
          return "stored";
        }
        return "claimed";
      }
      const claim = this.read(key);
      if (!claim) continue; // released meanwhile: try again at once
      const { holder } = claim;
      // Ours from an earlier attempt in this process, left by a process that died, or torn by an old writer that died.
      const stale = holder ? holder.host === os.hostname() && (holder.pid === process.pid || !alive(holder.pid)) : Date.now() - claim.mtimeMs > TORN_MS;
      if (stale) {
        if (this.takeOver(key, claim)) continue; // the stale claim is gone: compete again at once
      } else if (holder && !waiting) {
        waiting = true;
        onWait(holder);
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  release(key: string): void {
    const nonce = this.mine.get(key);
    const claim = this.read(key);
    const h = claim?.holder;
    if (h && h.pid === process.pid && h.host === os.hostname() && (nonce === undefined || h.nonce === nonce)) rmSync(this.file(key), { force: true });
    this.mine.delete(key);
  }

  /** Creates the claim (whole, atomically) unless one exists. */
  private tryCreate(key: string): boolean {
    if (existsSync(this.file(key))) return false;
    const me: ClaimHolder = { pid: process.pid, host: os.hostname(), started: new Date().toISOString(), nonce: randomBytes(12).toString("hex") };
    // Written whole under a name of its own (created exclusively: nothing planted there is followed), then linked.
    const tmp = path.join(this.dir, `.${key}.${me.nonce}.tmp`);
    writeFileSync(tmp, `${JSON.stringify(me)}\n`, { flag: "wx" });
    try {
      linkSync(tmp, this.file(key));
      this.mine.set(key, me.nonce as string);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      return false;
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /**
   * Removes the stale claim `seen` if this process wins its ticket (see the top of the file). Returns whether the
   * claim is known to be gone; false means someone else is taking it over (or was), and the caller waits.
   */
  private takeOver(key: string, seen: ReadClaim): boolean {
    const file = this.file(key);
    const ticket = `${file}${TICKET}${seen.id}`;
    try {
      linkSync(file, ticket);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return true; // the claim is gone already
      if (code !== "EEXIST") throw e;
      // Another racer holds the ticket. If it died mid-takeover the ticket gets old while the claim is unchanged:
      // remove the ticket so that the takeover can be done again.
      this.dropOldTicket(ticket);
      return false;
    }
    try {
      // The ticket is the file the claim name pointed at when linking: is it still the stale claim we judged?
      const linked = readClaimFile(ticket);
      if (!linked || linked.id !== seen.id) return false;
      // Only the holder of this ticket may remove claim `seen`; make sure the name still points at it.
      if (!sameFile(file, ticket)) return false;
      unlinkSync(file);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return true;
      throw e;
    } finally {
      // Once the stale claim is unlinked nobody can take the ticket for it again (linking needs the claim name to
      // point at that very file), and a racer linking the ticket name to a newer claim reads another nonce and backs off.
      rmSync(ticket, { force: true });
    }
  }

  private dropOldTicket(ticket: string): void {
    try {
      if (Date.now() - lstatSync(ticket).ctimeMs > this.ticketTimeoutMs) rmSync(ticket, { force: true });
    } catch {
      // gone meanwhile
    }
  }

  /**
   * At the start of a run: removes tickets and temporary claim files left by processes that died (older than the
   * ticket timeout; both live for microseconds).
   */
  heal(): void {
    const dir = resolveInside(this.store.root, this.dir); // a .claims link leading out of the store is refused
    if (dir === undefined) return;
    for (const name of readdirSync(dir)) {
      if (!name.includes(TICKET) && !(name.startsWith(".") && name.endsWith(".tmp"))) continue;
      const at = path.join(dir, name);
      try {
        if (Date.now() - lstatSync(at).ctimeMs > this.ticketTimeoutMs) rmSync(at, { force: true });
      } catch {
        // gone meanwhile
      }
    }
  }

  private read(key: string): ReadClaim | undefined {
    return readClaimFile(this.file(key));
  }
}

/**
 * A claim file's holder and identity: its nonce, or for a claim without one (older alignc, torn) its inode and
 * modification time, read through one open file so that both describe the same file.
 */
function readClaimFile(file: string): ReadClaim | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    let holder: ClaimHolder | undefined;
    try {
      const parsed = JSON.parse(readFileSync(fd, "utf8")) as ClaimHolder;
      if (parsed && typeof parsed.pid === "number" && typeof parsed.host === "string") holder = parsed;
    } catch {
      holder = undefined;
    }
    const id = holder?.nonce && /^[0-9a-f]{8,64}$/.test(holder.nonce) ? holder.nonce : `i${st.ino}-${Math.round(st.mtimeMs * 1000)}`;
    return { holder, id, mtimeMs: st.mtimeMs };
  } finally {
    closeSync(fd);
  }
}

function sameFile(a: string, b: string): boolean {
  const x = statSync(a);
  const y = statSync(b);
  return x.ino === y.ino && x.dev === y.dev;
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
