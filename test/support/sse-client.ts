import { setTimeout as sleep } from 'node:timers/promises';

export interface ReceivedEvent {
  id: string | undefined;
  event: string | undefined;
  data: any;
}

/**
 * A minimal Server-Sent Events reader over fetch, as a browser EventSource would read the stream:
 * it collects events and lets a test wait for one.
 */
export class SseClient {
  readonly events: ReceivedEvent[] = [];
  status = 0;
  readonly #abort = new AbortController();
  #done: Promise<void> | undefined;

  static async connect(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient();
    const response = await fetch(url, {
      headers: { accept: 'text/event-stream', ...headers },
      signal: client.#abort.signal,
    });
    client.status = response.status;
    if (response.body !== null && response.status === 200) client.#done = client.#read(response.body);
    return client;
  }

  async waitFor(
    predicate: (events: ReceivedEvent[]) => boolean,
    timeoutMs = 5_000,
  ): Promise<ReceivedEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.events)) {
      if (Date.now() > deadline)
        throw new Error(`timed out; received ${JSON.stringify(this.events.map((event) => event.event))}`);
      await sleep(20);
    }
    return this.events;
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#done?.catch(() => {});
  }

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let boundary = buffer.indexOf('\n\n');
        while (boundary !== -1) {
          this.#parse(buffer.slice(0, boundary));
          buffer = buffer.slice(boundary + 2);
          boundary = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // aborted by close()
    }
  }

  #parse(block: string): void {
    let id: string | undefined;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('id: ')) id = line.slice(4);
      else if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length > 0) this.events.push({ id, event, data: JSON.parse(data.join('\n')) });
  }
}
