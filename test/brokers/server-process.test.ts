import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ServerProcess, sparePort } from './server-process.js';

/** Each process of the tree under `root` with its state letter from /proc (T = stopped). */
function statesUnder(root: number): Map<number, string> {
  const parents = new Map<number, number>();
  const states = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(parent));
      states.set(Number(entry), state as string);
    } catch {
      // The process ended while we looked.
    }
  }
  const under = new Map<number, string>();
  for (const [pid, state] of states) {
    for (let ancestor: number | undefined = pid; ancestor !== undefined && ancestor > 1; ) {
      if (ancestor === root) {
        under.set(pid, state);
        break;
      }
      ancestor = parents.get(ancestor);
    }
  }
  return under;
}

describe('a test-owned server process', () => {
  let server: ServerProcess | undefined;
  let directory: string | undefined;

  afterEach(async () => {
    await server?.stop('SIGKILL');
    if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
  });

  it('pauses every process of its tree, including children forked while the pause is under way', async () => {
    // A server that forks children without pause, as PostgreSQL does for new connections.
    const port = await sparePort();
    directory = mkdtempSync(path.join(tmpdir(), 'omnistock-forking-'));
    const forkingServer = `
      require('node:net').createServer().listen(${port}, '127.0.0.1');
      const { spawn } = require('node:child_process');
      setInterval(() => spawn('sleep', ['0.5'], { stdio: 'ignore' }), 1);
    `;
    server = new ServerProcess(
      'forking',
      port,
      process.execPath,
      ['-e', forkingServer],
      path.join(directory, 'log'),
    );
    await server.start(10_000);
    await new Promise((resolve) => setTimeout(resolve, 200));

    for (let round = 0; round < 5; round += 1) {
      server.pause();
      // A signal reaches a process running on the other core a moment later; a process that escaped
      // the pause keeps running (or sleeping) for good.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const states = statesUnder(server.pid as number);
      expect(states.size).toBeGreaterThan(1);
      // Stopped (T), or exited and not yet reaped by its stopped parent (Z).
      const running = [...states].filter(([, state]) => state !== 'T' && state !== 'Z');
      expect(running, `${running.length} of ${states.size} still running`).toEqual([]);
      server.resume();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});
