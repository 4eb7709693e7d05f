import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { expect } from 'vitest';
import type { BrokerMessage } from '../../src/platform/events/broker.js';
import type { CloudEvent } from '../../src/platform/events/cloud-event.js';

export const SUBJECTS = [
  'inventory.default.stock.updated.MAD-001',
  'inventory.default.stock.updated.BCN-001',
  'inventory.default.product.created._',
  'inventory.acme.stock.updated.MAD-001',
] as const;

/** A name no other run uses, so parallel or crashed runs never share streams, groups or queues. */
export const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;

export interface RecordedLogger {
  entries: { level: string; details: object; message: string }[];
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export function recordingLogger(): RecordedLogger {
  const entries: RecordedLogger['entries'] = [];
  return {
    entries,
    info: (details, message) => entries.push({ level: 'info', details, message }),
    warn: (details, message) => entries.push({ level: 'warn', details, message }),
    error: (details, message) => entries.push({ level: 'error', details, message }),
  };
}

let sequence = 0;

export function makeMessages(count: number): BrokerMessage[] {
  return Array.from({ length: count }, (_, index) => {
    const subject = SUBJECTS[index % SUBJECTS.length] as string;
    const id = randomUUID();
    sequence += 1;
    const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    const envelope: CloudEvent = {
      specversion: '1.0',
      id,
      source: '/omnistock',
      type: subject.split('.').slice(2, -1).join('.'),
      subject: `level-${index}`,
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      tenantid: subject.split('.')[1] as string,
      correlationid: randomUUID(),
      traceparent,
      data: { index, store_id: subject.split('.').at(-1) },
    };
    return { id, subject, sequence, envelope, headers: { traceparent } };
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `done()` holds; fails with `what` when `timeoutMs` passes first. */
export async function waitFor(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** The first delivery of each id, in arrival order: what a consumer's inbox lets through. */
export function firstDeliveries(received: readonly BrokerMessage[]): BrokerMessage[] {
  const seen = new Set<string>();
  return received.filter((message) => {
    if (seen.has(message.id)) return false;
    seen.add(message.id);
    return true;
  });
}

export function idsBySubject(messages: readonly BrokerMessage[]): Map<string, string[]> {
  const bySubject = new Map<string, string[]>();
  for (const message of messages) {
    bySubject.set(message.subject, [...(bySubject.get(message.subject) ?? []), message.id]);
  }
  return bySubject;
}

/** Every published message arrived (after de-duplication), nothing else did, each intact. */
export function expectExactlyOnce(
  received: readonly BrokerMessage[],
  published: readonly BrokerMessage[],
): void {
  const unique = firstDeliveries(received);
  expect(new Set(unique.map((message) => message.id))).toEqual(
    new Set(published.map((message) => message.id)),
  );
  expect(unique).toHaveLength(published.length);
  const byId = new Map(published.map((message) => [message.id, message]));
  for (const message of unique) expect(message).toEqual(byId.get(message.id));
}

/** Resolves to why `host:port` refuses a TCP connection, or null when it accepts one. */
export function unreachable(host: string, port: number, timeoutMs = 1_000): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (reason: string | null) => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(timeoutMs, () => finish(`no answer within ${timeoutMs} ms`));
    socket.once('connect', () => finish(null));
    socket.once('error', (error) => finish(error.message));
  });
}

/**
 * Without OMNISTOCK_REQUIRE_SERVICES=1 a missing server skips its block (and says so); with it, as
 * in CI, the run fails.
 */
export async function serviceAvailable(name: string, url: string): Promise<boolean> {
  const parsed = new URL(url);
  const reason = await unreachable(parsed.hostname, Number(parsed.port));
  if (reason === null) return true;
  if (process.env['OMNISTOCK_REQUIRE_SERVICES'] === '1') {
    throw new Error(
      `${name} is required (OMNISTOCK_REQUIRE_SERVICES=1) but ${url} is unreachable: ${reason}`,
    );
  }
  process.stdout.write(`\nSKIPPED: ${name} broker tests — no server at ${url} (${reason}).\n\n`);
  return false;
}

/** Like serviceAvailable, for the server binaries the fault-injection tests start themselves. */
export function binaryAvailable(name: string, binary: string): boolean {
  if (existsSync(binary)) return true;
  if (process.env['OMNISTOCK_REQUIRE_SERVICES'] === '1') {
    throw new Error(`${name} is required (OMNISTOCK_REQUIRE_SERVICES=1) but ${binary} does not exist`);
  }
  process.stdout.write(`\nSKIPPED: ${name} restart test — ${binary} is not installed.\n\n`);
  return false;
}
