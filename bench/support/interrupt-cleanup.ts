import type { ChildProcess } from 'node:child_process';

/** A release of something the run holds: a process, a database, a server. */
type Release = () => Promise<unknown> | unknown;

/** What the run holds now, in the order it was taken. */
const held = new Set<Release>();

/**
 * Registers how to release something just taken, should the run be interrupted before it lets it
 * go itself; the answer unregisters it (call it where the thing is released normally). Processes
 * and servers would outlive an interrupted run, and the databases on a PostgreSQL server would stay.
 */
export function releaseOnInterrupt(release: Release): () => void {
  held.add(release);
  return () => {
    held.delete(release);
  };
}

/** The release under way: an interrupt's, which the failure its killed processes cause also awaits. */
let releasing: Promise<void> | undefined;

/**
 * Releases everything held, the last taken first (a service before the database it runs on), one
 * at a time, until nothing is: what is taken meanwhile goes too. A release that fails does not stop
 * the others. Callers while it is under way wait for the same one.
 */
export function releaseEverythingHeld(): Promise<void> {
  releasing ??= (async () => {
    while (held.size > 0) {
      const last = [...held].at(-1) as Release;
      held.delete(last);
      try {
        await last();
      } catch {
        // Best effort: the run is ending either way.
      }
    }
  })().finally(() => {
    releasing = undefined;
  });
  return releasing;
}

/** A child process of the run, killed if the run is interrupted while it is still running. */
export function killOnInterrupt(child: ChildProcess): void {
  const forget = releaseOnInterrupt(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  child.once('exit', forget);
}
