import { LRUCache } from 'lru-cache';
import type { Database } from '../../platform/db/database.js';
import { recordInInbox } from '../../platform/events/inbox.js';
import { readEventLog } from '../../platform/events/outbox-store.js';
import { versionConflict } from '../../platform/http/etag.js';
import { AppError } from '../../platform/http/problem.js';
import type { RequestContext } from '../../platform/http/request-context.js';
import { newId } from '../../platform/ids.js';
import type { SecretBox } from '../../platform/security/secret-box.js';
import { endpointMatches, WILDCARD_EVENT_TYPE } from './event-matching.domain.js';
import { type HostResolver, systemResolver, validateTargetUrl } from './target-url.validator.js';
import {
  type DeliveryRow,
  insertDeliveries,
  listDeliveries,
  type QueuedEvent,
  queueOrRequeue,
  requeueDelivery,
} from './webhook-delivery.repository.js';
import {
  countEndpoints,
  countOpenCircuits,
  deleteEndpoint,
  type EndpointFields,
  type EndpointRow,
  findEnabledEndpoints,
  findEndpoint,
  findSubscribedEndpoints,
  insertEndpoint,
  insertSecret,
  listEndpoints,
  lockEndpointCreation,
  retireCurrentSecret,
  updateEndpoint,
} from './webhook-endpoint.repository.js';
import { webhookSecretContext } from './webhook-secret.sealing.js';
import { generateWebhookSecret } from './webhook-signature.js';
import { deliveryNotFound, WebhookErrors, webhookNotFound } from './webhooks.errors.js';
import type {
  Delivery,
  DeliveryStatus,
  ReplayRequest,
  ReplayResult,
  Webhook,
  WebhookCreate,
  WebhookUpdate,
  WebhookWithSecret,
} from './webhooks.schemas.js';

/** The broker's durable consumer group, and the consumer name in the inbox. */
export const WEBHOOK_CONSUMER_GROUP = 'webhooks';
export const WEBHOOK_ENDPOINTS_PER_TENANT_MAX = 50;
/** A rotated-out secret keeps signing beside the new one this long, so receivers can switch over. */
export const SECRET_ROTATION_OVERLAP_SECONDS = 24 * 3600;
/** Deliveries one replay request queues at most; beyond it the answer says where to continue. */
export const REPLAY_DELIVERIES_MAX = 10_000;
/** Events one replay request reads at most (a `from_time` start is found by reading the log). */
export const REPLAY_EVENTS_SCANNED_MAX = 100_000;
const REPLAY_PAGE_SIZE = 500;
/** How long another instance's endpoint change may go unseen by this instance's consumer. */
export const ENABLED_ENDPOINTS_TTL_MS = 1_000;
const ENABLED_ENDPOINTS_TENANTS_MAX = 10_000;

export interface WebhookServiceOptions {
  /** WEBHOOK_ALLOW_PRIVATE_TARGETS: skip the address checks (local receivers, tests). */
  allowPrivateTargets: boolean;
  resolve?: HostResolver;
  /** Seals signing secrets before they are stored: the database never holds one in clear. */
  secretBox: SecretBox;
}

export function toWebhook(row: EndpointRow): Webhook {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    event_types: row.event_types,
    store_ids: row.store_ids,
    enabled: row.enabled,
    version: row.version,
    consecutive_failures: row.consecutive_failures,
    circuit_open_until: row.circuit_open_until?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export function toDelivery(row: DeliveryRow): Delivery {
  return {
    id: row.id,
    webhook_id: row.endpoint_id,
    event_id: row.event_id,
    event_type: row.event_type,
    event_sequence: row.event_sequence,
    status: row.status,
    attempts: row.attempts,
    last_status_code: row.last_status_code,
    last_error: row.last_error,
    last_attempt_at: row.last_attempt_at?.toISOString() ?? null,
    next_attempt_at: row.next_attempt_at?.toISOString() ?? null,
    delivered_at: row.delivered_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
  };
}

/**
 * Webhook endpoints of a tenant and their delivery queue. Every event of the log is offered once
 * (`acceptEvent`, idempotent through the inbox) and queued for each enabled endpoint that wants it;
 * the dispatcher sends what is queued. Listeners of `onDeliveriesQueued` hear of every queueing.
 */
export class WebhookService {
  readonly #queuedListeners = new Set<() => void>();
  readonly #resolve: HostResolver;
  /**
   * Each tenant's enabled endpoints, as the consumer last read them: every event is matched
   * against them, and reading them per event cost more than the change that caused it. A change
   * made here is seen at once; one made on another instance within ENABLED_ENDPOINTS_TTL_MS.
   */
  readonly #enabledEndpoints = new LRUCache<string, EndpointRow[]>({
    max: ENABLED_ENDPOINTS_TENANTS_MAX,
    ttl: ENABLED_ENDPOINTS_TTL_MS,
    fetchMethod: (tenantId) => findEnabledEndpoints(this.database.forTenant(tenantId), tenantId),
  });

  constructor(
    private readonly database: Database,
    private readonly options: WebhookServiceOptions,
  ) {
    this.#resolve = options.resolve ?? systemResolver;
  }

  onDeliveriesQueued(listener: () => void): () => void {
    this.#queuedListeners.add(listener);
    return () => this.#queuedListeners.delete(listener);
  }

  async create(context: RequestContext, input: WebhookCreate): Promise<WebhookWithSecret> {
    const url = await this.#validUrl(input.url);
    const secret = generateWebhookSecret();
    const row = await this.database.forTenant(context.tenantId).transaction(async (tx) => {
      await lockEndpointCreation(tx, context.tenantId);
      if ((await countEndpoints(tx, context.tenantId)) >= WEBHOOK_ENDPOINTS_PER_TENANT_MAX) {
        throw new AppError(
          WebhookErrors.endpointsLimitReached,
          `A tenant may have ${WEBHOOK_ENDPOINTS_PER_TENANT_MAX} webhook endpoints; delete one first`,
          { limit: WEBHOOK_ENDPOINTS_PER_TENANT_MAX },
        );
      }
      const created = await insertEndpoint(tx, context.tenantId, newId(), {
        url,
        description: input.description ?? null,
        event_types: input.event_types,
        store_ids: input.store_ids ?? null,
        enabled: input.enabled ?? true,
      });
      await insertSecret(
        tx,
        context.tenantId,
        created.id,
        newId(),
        this.#seal(secret, context.tenantId, created.id),
      );
      return created;
    });
    this.#enabledEndpoints.delete(context.tenantId);
    return { ...toWebhook(row), secret };
  }

  async get(tenantId: string, webhookId: string): Promise<Webhook> {
    const row = await findEndpoint(this.database.forTenant(tenantId), tenantId, webhookId);
    if (row === undefined) throw webhookNotFound(webhookId);
    return toWebhook(row);
  }

  async list(tenantId: string, afterId: string | undefined, limit: number): Promise<EndpointRow[]> {
    return listEndpoints(this.database.forTenant(tenantId), tenantId, afterId, limit);
  }

  /** Changes what is given; `rotate_secret` returns the new secret once, the old one signs 24 h more. */
  async update(
    context: RequestContext,
    webhookId: string,
    expectedVersion: number | undefined,
    patch: WebhookUpdate,
  ): Promise<WebhookWithSecret> {
    const url = patch.url === undefined ? undefined : await this.#validUrl(patch.url);
    const secret = patch.rotate_secret === true ? generateWebhookSecret() : undefined;
    const row = await this.database.forTenant(context.tenantId).transaction(async (tx) => {
      const current = await findEndpoint(tx, context.tenantId, webhookId, 'update');
      if (current === undefined) throw webhookNotFound(webhookId);
      if (expectedVersion !== undefined && current.version !== expectedVersion) {
        throw versionConflict(current.version);
      }
      const fields: EndpointFields = {
        url: url ?? current.url,
        description: patch.description === undefined ? current.description : patch.description,
        event_types: patch.event_types ?? current.event_types,
        store_ids: patch.store_ids === undefined ? current.store_ids : patch.store_ids,
        enabled: patch.enabled ?? current.enabled,
      };
      const updated = await updateEndpoint(tx, context.tenantId, webhookId, fields);
      if (secret !== undefined) {
        await retireCurrentSecret(tx, context.tenantId, webhookId, SECRET_ROTATION_OVERLAP_SECONDS);
        await insertSecret(
          tx,
          context.tenantId,
          webhookId,
          newId(),
          this.#seal(secret, context.tenantId, webhookId),
        );
      }
      return updated;
    });
    this.#enabledEndpoints.delete(context.tenantId);
    // Re-enabling releases deliveries that waited meanwhile.
    if (patch.enabled === true) this.#announceQueued();
    return secret === undefined ? toWebhook(row) : { ...toWebhook(row), secret };
  }

  async delete(context: RequestContext, webhookId: string): Promise<void> {
    if (!(await deleteEndpoint(this.database.forTenant(context.tenantId), context.tenantId, webhookId))) {
      throw webhookNotFound(webhookId);
    }
    this.#enabledEndpoints.delete(context.tenantId);
  }

  async listDeliveries(
    tenantId: string,
    webhookId: string,
    filter: { status: DeliveryStatus | undefined; beforeId: string | undefined; limit: number },
  ): Promise<DeliveryRow[]> {
    await this.get(tenantId, webhookId);
    return listDeliveries(this.database.forTenant(tenantId), tenantId, webhookId, filter);
  }

  /** Queues a delivery again, now, with a fresh retry schedule, whatever its status (DEAD included). */
  async redeliver(context: RequestContext, webhookId: string, deliveryId: string): Promise<Delivery> {
    const row = await requeueDelivery(
      this.database.forTenant(context.tenantId),
      context.tenantId,
      webhookId,
      deliveryId,
    );
    if (row === undefined) {
      await this.get(context.tenantId, webhookId);
      throw deliveryNotFound(webhookId, deliveryId);
    }
    this.#announceQueued();
    return toDelivery(row);
  }

  /**
   * Queues every event of the tenant's log from `from_sequence` (inclusive) and/or `from_time` on
   * that the endpoint wants, now and whether or not it had them before. Bounded per request.
   */
  async replay(context: RequestContext, webhookId: string, request: ReplayRequest): Promise<ReplayResult> {
    if (request.from_sequence === undefined && request.from_time === undefined) {
      throw new AppError(WebhookErrors.replayRangeInvalid, 'Send from_sequence, from_time or both');
    }
    const endpoint = await findEndpoint(
      this.database.forTenant(context.tenantId),
      context.tenantId,
      webhookId,
    );
    if (endpoint === undefined) throw webhookNotFound(webhookId);
    const fromTimeMs = request.from_time === undefined ? undefined : Date.parse(request.from_time);
    const types = endpoint.event_types.includes(WILDCARD_EVENT_TYPE) ? undefined : endpoint.event_types;
    let afterSequence = (request.from_sequence ?? 1) - 1;
    let queued = 0;
    let scanned = 0;
    let lastSequence: number | null = null;
    let truncated = false;
    for (;;) {
      const events = await readEventLog(this.database.forTenant(context.tenantId), {
        tenantId: context.tenantId,
        afterSequence,
        limit: REPLAY_PAGE_SIZE,
        types,
      });
      const room = REPLAY_DELIVERIES_MAX - queued;
      const wanted = events
        .filter((event) => fromTimeMs === undefined || Date.parse(event.envelope.time) >= fromTimeMs)
        .filter((event) => endpointMatches(endpoint, event.envelope));
      const batch = wanted.slice(0, room);
      queued += await queueOrRequeue(
        this.database.forTenant(context.tenantId),
        context.tenantId,
        webhookId,
        batch.map((event) => ({
          id: event.id,
          type: event.envelope.type,
          sequence: event.sequence,
          envelope: event.envelope,
          delivery_id: newId(),
        })),
      );
      scanned += events.length;
      if (wanted.length > room) {
        // Continuing from last_sequence + 1 picks up exactly what did not fit.
        lastSequence = batch.at(-1)?.sequence ?? afterSequence;
        truncated = true;
        break;
      }
      lastSequence = events.at(-1)?.sequence ?? lastSequence;
      afterSequence = lastSequence ?? afterSequence;
      if (events.length < REPLAY_PAGE_SIZE) break;
      if (scanned >= REPLAY_EVENTS_SCANNED_MAX) {
        truncated = true;
        break;
      }
    }
    if (queued > 0) this.#announceQueued();
    return { queued, last_sequence: lastSequence, truncated };
  }

  /** Across tenants, how many endpoints' circuits are open (a metric, read when scraped). */
  async openCircuitCount(): Promise<number> {
    return countOpenCircuits(this.database.system('metrics'));
  }

  /**
   * The consumer's step, one transaction: records the event in the inbox (a redelivered event is
   * ignored) and queues it for every enabled endpoint of its tenant that wants it.
   */
  async acceptEvent(event: QueuedEvent): Promise<number> {
    const tenantId = event.envelope.tenantid;
    // Most events concern no endpoint: the tenant's endpoints, read at most once a TTL, settle that
    // without a transaction or an inbox row. Held ones are taken at once: `fetch` makes several
    // promises even for a fresh entry, on every event.
    const enabled =
      this.#enabledEndpoints.get(tenantId) ?? (await this.#enabledEndpoints.fetch(tenantId)) ?? [];
    if (!enabled.some((endpoint) => endpointMatches(endpoint, event.envelope))) return 0;
    const queued = await this.database.forTenant(tenantId).transaction(async (tx) => {
      if (!(await recordInInbox(tx, WEBHOOK_CONSUMER_GROUP, event.id))) return 0;
      const endpoints = await findSubscribedEndpoints(tx, tenantId, event.type);
      const wanted = endpoints.filter((endpoint) => endpointMatches(endpoint, event.envelope));
      return insertDeliveries(
        tx,
        tenantId,
        event,
        wanted.map((endpoint) => ({ id: newId(), endpoint_id: endpoint.id })),
      );
    });
    if (queued > 0) this.#announceQueued();
    return queued;
  }

  #seal(secret: string, tenantId: string, endpointId: string): string {
    return this.options.secretBox.seal(secret, webhookSecretContext(tenantId, endpointId));
  }

  async #validUrl(raw: string): Promise<string> {
    return validateTargetUrl(raw, {
      allowPrivateTargets: this.options.allowPrivateTargets,
      resolve: this.#resolve,
    });
  }

  #announceQueued(): void {
    for (const listener of this.#queuedListeners) listener();
  }
}
