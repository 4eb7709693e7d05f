import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { sleep, unreachable } from './broker-support.js';

/** A port nobody listens on right now (the kernel picks it; we release it for the server). */
export function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(),
      );
    });
  });
}

/**
 * A broker server this test owns: started on its own port and data directory, stopped and started
 * again on the same ones. It runs in a process group of its own, so a kill reaches the whole tree
 * (rabbitmq-server is a shell script whose Erlang VM is a child), and never a shared server.
 */
export class ServerProcess {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly command: string,
    private readonly args: readonly string[],
    private readonly logPath: string,
    private readonly environment: NodeJS.ProcessEnv = {},
    /** Run as another user (PostgreSQL refuses to run as root). */
    private readonly identity: { uid: number; gid: number } | undefined = undefined,
  ) {}

  /** The server's process id while it runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the server and resolves once its port accepts connections. */
  async start(readyTimeoutMs: number): Promise<void> {
    if (this.#child !== undefined) throw new Error(`${this.name} is already running`);
    const log = createWriteStream(this.logPath, { flags: 'a' });
    const child = spawn(this.command, this.args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.environment },
      ...this.identity,
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + readyTimeoutMs;
    while ((await unreachable('127.0.0.1', this.port, 500)) !== null) {
      if (child.exitCode !== null)
        throw new Error(`${this.name} exited with ${child.exitCode}; see ${this.logPath}`);
      if (Date.now() > deadline) throw new Error(`${this.name} not ready within ${readyTimeoutMs} ms`);
      await sleep(50);
    }
  }

  /**
   * SIGSTOP to the server and every process under it: it keeps its sockets open and answers
   * nothing. The tree, not just the group: PostgreSQL puts each backend in a session of its own.
   */
  pause(): void {
    if (this.#child?.pid !== undefined) signalTree(this.#child.pid, 'SIGSTOP');
  }

  resume(): void {
    if (this.#child?.pid !== undefined) signalTree(this.#child.pid, 'SIGCONT');
  }

  /** Sends `signal` to the server's process group and waits (bounded) for it to exit. */
  async stop(signal: NodeJS.Signals, exitTimeoutMs = 15_000): Promise<void> {
    const child = this.#child;
    if (child?.pid === undefined) return;
    this.#child = undefined;
    signalTree(child.pid, 'SIGCONT'); // a paused server cannot act on a termination signal
    signalGroup(child.pid, signal);
    const exited = await Promise.race([
      this.#exited.then(() => true),
      sleep(exitTimeoutMs).then(() => false),
    ]);
    if (!exited) signalGroup(child.pid, 'SIGKILL');
    // The group's other members (e.g. the Erlang VM under its script) may outlive the leader briefly.
    const deadline = Date.now() + exitTimeoutMs;
    while (groupAlive(child.pid) && Date.now() < deadline) await sleep(50);
    if (groupAlive(child.pid)) signalGroup(child.pid, 'SIGKILL');
  }
}

/**
 * Signals `pid` and its descendants, parents first, until a fresh look at /proc finds none left
 * unsignalled: a process forked between one look and its parent's SIGSTOP (a PostgreSQL backend
 * for a new connection, say) would otherwise escape the pause and keep answering. A SIGSTOP takes
 * effect a moment after kill() returns, when the process runs on the other core: each pass waits
 * until its processes are stopped, so that the next look sees everything they forked.
 */
function signalTree(pid: number, signal: NodeJS.Signals): void {
  const signalled = new Set<number>();
  for (;;) {
    const unsignalled = treeOf(pid).filter((member) => !signalled.has(member));
    if (unsignalled.length === 0) return;
    for (const member of unsignalled) {
      signalled.add(member);
      try {
        process.kill(member, signal);
      } catch {
        // Already gone.
      }
    }
    if (signal === 'SIGSTOP') untilStopped(unsignalled);
  }
}

/** Waits (bounded, busy: this is a test's pause) until each process is stopped, a zombie or gone. */
function untilStopped(pids: readonly number[]): void {
  const deadline = Date.now() + 1_000;
  for (const pid of pids) {
    while (Date.now() < deadline) {
      const state = processState(pid);
      if (state === undefined || state === 'T' || state === 'Z') break;
    }
  }
}

function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** `pid` and its descendants as /proc shows them now, parents before their children. */
function treeOf(pid: number): number[] {
  const childrenOf = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The parent pid is the 2nd field after the parenthesised command name.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), Number(entry)]);
    } catch {
      // The process ended while we looked.
    }
  }
  const tree: number[] = [];
  const pending = [pid];
  while (pending.length > 0) {
    const next = pending.shift() as number;
    tree.push(next);
    pending.push(...(childrenOf.get(next) ?? []));
  }
  return tree;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}
