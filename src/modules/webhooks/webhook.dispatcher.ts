import type { Database } from '../../platform/db/database.js';
import type { Broker, BrokerMessage, Subscription } from '../../platform/events/broker.js';
import type { SecretBox } from '../../platform/security/secret-box.js';
import {
  DELIVERY_TUNING_DEFAULT,
  type DeliveryRecorder,
  type DeliveryTuning,
  DeliveryWorker,
  type WorkerLogger,
} from './delivery.worker.js';
import { WebhookSender } from './webhook.sender.js';
import { WEBHOOK_CONSUMER_GROUP, type WebhookService } from './webhook.service.js';
import { purgeFinishedDeliveries } from './webhook-delivery.repository.js';

/** Succeeded and dead deliveries stay in the log this long. */
export const DELIVERY_RETENTION_SECONDS = 30 * 24 * 3600;
const PURGE_INTERVAL_MS = 60 * 60 * 1000;
const PURGE_BATCH_SIZE_MAX = 5_000;
const JOIN_RETRY_DELAY_MIN_MS = 500;
const JOIN_RETRY_DELAY_MAX_MS = 30_000;

export interface WebhookDispatcherOptions {
  /** WEBHOOK_TIMEOUT_MS: one attempt, connection to last byte. */
  timeoutMs: number;
  /** WEBHOOK_ALLOW_PRIVATE_TARGETS: let the agent connect to private and loopback addresses. */
  allowPrivateTargets: boolean;
  /** Retry schedule, breaker and concurrency; the defaults are the documented contract. */
  tuning?: Partial<DeliveryTuning>;
}

export interface WebhookDispatcherDependencies {
  database: Database;
  broker: Broker;
  service: WebhookService;
  logger: WorkerLogger;
  /** Opens the sealed signing secrets when a delivery is signed. */
  secretBox: SecretBox;
  /** Metrics: told how each delivery attempt ended. */
  recordDelivery?: DeliveryRecorder;
}

/**
 * The webhook background work: a member of the broker's durable `webhooks` group that queues each
 * event for the endpoints that want it (at least once from the broker, exactly once into the queue
 * through the inbox), and the worker that sends the queue. Delivery is at least once: receivers
 * de-duplicate on `webhook-id`, the event id. Order per endpoint follows the event log, except that
 * a delivery failing again and again stops holding back later ones (see delivery-policy.domain.ts).
 */
export class WebhookDispatcher {
  readonly #sender: WebhookSender;
  readonly #worker: DeliveryWorker;
  #subscription: Subscription | undefined;
  #unsubscribeQueued: (() => void) | undefined;
  #purgeTimer: NodeJS.Timeout | undefined;
  #joinTimer: NodeJS.Timeout | undefined;
  #stopped = true;

  constructor(
    private readonly dependencies: WebhookDispatcherDependencies,
    options: WebhookDispatcherOptions,
  ) {
    this.#sender = new WebhookSender({
      timeoutMs: options.timeoutMs,
      allowPrivateTargets: options.allowPrivateTargets,
    });
    this.#worker = new DeliveryWorker(
      dependencies.database,
      this.#sender,
      options.timeoutMs,
      { ...DELIVERY_TUNING_DEFAULT, ...options.tuning },
      dependencies.logger,
      dependencies.secretBox,
      dependencies.recordDelivery,
    );
  }

  get tuning(): DeliveryTuning {
    return this.#worker.tuning;
  }

  /** For operators' tooling and tests: changes the retry schedule, breaker or concurrency live. */
  retune(tuning: Partial<DeliveryTuning>): void {
    this.#worker.retune({ ...this.#worker.tuning, ...tuning });
  }

  async start(): Promise<void> {
    this.#stopped = false;
    this.#unsubscribeQueued = this.dependencies.service.onDeliveriesQueued(() => this.#worker.notify());
    this.#worker.start();
    await this.#join(1);
    this.#purgeTimer = setInterval(() => this.#purge(), PURGE_INTERVAL_MS);
    this.#purgeTimer.unref();
  }

  /**
   * Joins the broker's group; a broker that is down at start is retried with backoff in the
   * background: events wait in the outbox (or the broker) until the group is joined.
   */
  async #join(attempt: number): Promise<void> {
    if (this.#stopped) return;
    try {
      this.#subscription = await this.dependencies.broker.consume(WEBHOOK_CONSUMER_GROUP, (message) =>
        this.#accept(message),
      );
    } catch (error) {
      const delayMs = Math.min(JOIN_RETRY_DELAY_MIN_MS * 2 ** (attempt - 1), JOIN_RETRY_DELAY_MAX_MS);
      this.dependencies.logger.warn(
        { err: error, retry_in_ms: delayMs },
        'webhooks could not join the broker group; retrying',
      );
      this.#joinTimer = setTimeout(() => void this.#join(attempt + 1), delayMs);
      this.#joinTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#joinTimer);
    clearInterval(this.#purgeTimer);
    await this.#subscription?.close();
    this.#subscription = undefined;
    this.#unsubscribeQueued?.();
    await this.#worker.stop();
    this.#sender.close();
  }

  async #accept(message: BrokerMessage): Promise<void> {
    // The event's own id, not the message's: a replayed message carries a fresh message id.
    await this.dependencies.service.acceptEvent({
      id: message.envelope.id,
      type: message.envelope.type,
      sequence: message.sequence,
      envelope: message.envelope,
    });
  }

  #purge(): void {
    purgeFinishedDeliveries(
      this.dependencies.database.system('maintenance'),
      DELIVERY_RETENTION_SECONDS,
      PURGE_BATCH_SIZE_MAX,
    )
      .then((purged) => {
        if (purged > 0) this.dependencies.logger.info({ purged }, 'old webhook deliveries purged');
      })
      .catch((error: unknown) =>
        this.dependencies.logger.error({ err: error }, 'purging old webhook deliveries failed'),
      );
  }
}
