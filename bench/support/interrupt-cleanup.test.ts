import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { killOnInterrupt, releaseEverythingHeld, releaseOnInterrupt } from './interrupt-cleanup.js';

describe('the bench run, interrupted', () => {
  it('releases what is held, the last taken first, and not what was released already', async () => {
    const released: string[] = [];
    releaseOnInterrupt(() => released.push('database'));
    const forgetTemplate = releaseOnInterrupt(() => released.push('template'));
    releaseOnInterrupt(async () => {
      await sleep(10);
      released.push('service');
    });
    forgetTemplate();

    await releaseEverythingHeld();

    expect(released).toEqual(['service', 'database']);
    await releaseEverythingHeld();
    expect(released).toEqual(['service', 'database']);
  });

  it('goes on past a failing release, takes what is registered meanwhile, and shares one release', async () => {
    const released: string[] = [];
    releaseOnInterrupt(() => released.push('first'));
    releaseOnInterrupt(() => {
      releaseOnInterrupt(() => released.push('taken while releasing'));
      throw new Error('the server was gone already');
    });

    const [interrupt, failure] = [releaseEverythingHeld(), releaseEverythingHeld()];

    expect(failure).toBe(interrupt);
    await interrupt;
    expect(released).toEqual(['taken while releasing', 'first']);
  });

  it('kills a child process still running, and forgets one that has exited', async () => {
    const running = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    const finished = spawn(process.execPath, ['-e', '']);
    killOnInterrupt(running);
    killOnInterrupt(finished);
    await once(finished, 'exit');
    const runningExit = once(running, 'exit');

    await releaseEverythingHeld();

    const [code, signal] = await runningExit;
    expect({ code, signal }).toEqual({ code: null, signal: 'SIGKILL' });
    expect(finished.signalCode).toBeNull();
  });
});
