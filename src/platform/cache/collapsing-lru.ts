import { LRUCache } from 'lru-cache';

export interface CollapsingLruOptions {
  entriesMax: number;
  /** How long a loaded value is served without loading it again. */
  ttlMs: number;
}

/**
 * A process-local LRU of loaded values in which concurrent lookups of one missing key share one
 * load: when an entry expires under load, one query replaces it instead of one per request in
 * flight. A load that finds nothing (`undefined`) is not remembered, and a key forgotten while it
 * loads is not stored: the load may have read what the change that forgot it replaced.
 */
export class CollapsingLru<Value extends NonNullable<unknown>> {
  readonly #entries: LRUCache<string, Value>;
  readonly #loading = new Map<string, Promise<Value | undefined>>();

  constructor(options: CollapsingLruOptions) {
    this.#entries = new LRUCache<string, Value>({ max: options.entriesMax, ttl: options.ttlMs });
  }

  get(key: string, load: () => Promise<Value | undefined>): Promise<Value | undefined> {
    const cached = this.#entries.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    const pending = this.#loading.get(key);
    if (pending !== undefined) return pending;
    const loading: Promise<Value | undefined> = load().then(
      (value) => {
        if (this.#loading.get(key) === loading) {
          this.#loading.delete(key);
          if (value !== undefined) this.#entries.set(key, value);
        }
        return value;
      },
      (error: unknown) => {
        if (this.#loading.get(key) === loading) this.#loading.delete(key);
        throw error;
      },
    );
    this.#loading.set(key, loading);
    return loading;
  }

  forget(key: string): void {
    this.#entries.delete(key);
    this.#loading.delete(key);
  }
}
