// Programs alignc starts on the user's behalf (command raters, corrupt's editor) run in their own process group, so
// that everything they start in turn — a worker, a server, a shell pipeline — can be ended with them: stopping a
// program signals its whole group, not just the process alignc started.
//
// Start the program with `detached: true` (its own session and group; stdin/stdout pipes work as usual), then
// `ProcessGroup.adopt(pid)`. Its `end(graceMs)` sends SIGTERM to the group, waits up to graceMs for it to be empty and
// sends SIGKILL to what is left. Until a group is known to be empty it is "live", and alignc ends live groups itself:
//   - on SIGINT, SIGTERM and SIGHUP (a detached group no longer gets the terminal's Ctrl-C): SIGTERM to every live
//     group, up to SIGNAL_GRACE_MS for them to go, SIGKILL for the rest, then the signal is raised again so that
//     alignc ends as it would have without these handlers (the handlers are installed only while groups are live);
//   - on process 'exit' (a normal end, process.exit, an uncaught exception): SIGKILL to every live group.
// Only a SIGKILL of alignc itself leaves them behind.
import { readdirSync, readFileSync } from "node:fs";

/** How long, after a signal that ends alignc, live groups get between SIGTERM and SIGKILL. */
export const SIGNAL_GRACE_MS = 1000;
const POLL_MS = 25;

const live = new Set<ProcessGroup>();
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** One program's process group (its id is the program's pid). */
export class ProcessGroup {
  private ending: Promise<void> | undefined;

  private constructor(readonly pgid: number) {}

  /** Tracks the group of a program started with `detached: true`; undefined when it did not start (no pid). */
  static adopt(pid: number | undefined): ProcessGroup | undefined {
    // Windows has no process groups to signal: there the caller stops the program itself.
    if (pid === undefined || !Number.isInteger(pid) || pid <= 1 || process.platform === "win32") return undefined;
    const group = new ProcessGroup(pid);
    track(group);
    return group;
  }

  /** Sends `signal` to every process of the group; false when it is empty. */
  signal(signal: NodeJS.Signals): boolean {
    return signalGroup(this.pgid, signal);
  }

  /** Whether a process of the group is still running (zombies, which a container's init may never reap, do not count). */
  alive(): boolean {
    return groupAlive(this.pgid);
  }

  /**
   * Ends the group: SIGTERM to all of it, then SIGKILL to what is left after `graceMs`. Resolves once it is empty (or
   * SIGKILL was sent). Calling it again returns the same promise.
   */
  end(graceMs: number): Promise<void> {
    this.ending ??= this.terminate(graceMs);
    return this.ending;
  }

  private async terminate(graceMs: number): Promise<void> {
    if (this.alive() && this.signal("SIGTERM")) {
      const deadline = Date.now() + graceMs;
      while (Date.now() < deadline && this.alive()) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (this.alive()) this.signal("SIGKILL");
    }
    untrack(this);
  }

  /** SIGKILL to the group now, and forget it (alignc is exiting). */
  kill(): void {
    this.signal("SIGKILL");
    untrack(this);
  }
}

/** The groups alignc started and has not seen end (for tests). */
export function liveGroups(): number[] {
  return [...live].map((g) => g.pgid);
}

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    // ESRCH: nothing left in the group. EPERM: a member we may not signal (it changed its user): it is there.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function groupAlive(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  if (process.platform !== "linux") return true;
  // The group has members, but they may all be zombies (exited, not yet reaped: our own child while the event loop is
  // blocked, or orphans under an init that does not reap). Look for one that is running.
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return true;
  }
  for (const name of names) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses, so parse from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") return true;
  }
  return false;
}

function track(group: ProcessGroup): void {
  if (live.size === 0) {
    process.on("exit", onExit);
    for (const signal of SIGNALS) process.on(signal, onSignal);
  }
  live.add(group);
}

function untrack(group: ProcessGroup): void {
  if (!live.delete(group) || live.size > 0) return;
  process.removeListener("exit", onExit);
  for (const signal of SIGNALS) process.removeListener(signal, onSignal);
}

function onExit(): void {
  for (const group of [...live]) group.kill();
}

/** Blocks the thread for `ms` (alignc is ending: nothing else should run meanwhile). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function onSignal(signal: NodeJS.Signals): void {
  const groups = [...live];
  for (const group of groups) group.signal("SIGTERM");
  const deadline = Date.now() + SIGNAL_GRACE_MS;
  while (Date.now() < deadline && groups.some((g) => g.alive())) sleepSync(POLL_MS);
  for (const group of groups) group.kill();
  // kill() untracked every group, which removed these handlers: raised again, the signal ends alignc as it would have
  // without them (or reaches whichever other handlers there are).
  process.kill(process.pid, signal);
}
