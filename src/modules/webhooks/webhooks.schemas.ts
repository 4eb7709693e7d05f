import Type, { type Static } from 'typebox';
import { StoreId } from '../catalog/index.js';
import { WILDCARD_EVENT_TYPE } from './event-matching.domain.js';
import { WEBHOOK_URL_LENGTH_MAX } from './target-url.domain.js';

export const EVENT_TYPES_PER_ENDPOINT_MAX = 50;
export const STORES_PER_ENDPOINT_MAX = 100;
export const DESCRIPTION_LENGTH_MAX = 500;
/** Like `stock.updated`; the catalogue of types lives in docs/events.md. */
const EVENT_TYPE_PATTERN = `^([a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+|\\${WILDCARD_EVENT_TYPE})$`;

export const WebhookId = Type.String({ format: 'uuid', description: 'Webhook endpoint id (UUIDv7)' });
export const DeliveryId = Type.String({ format: 'uuid', description: 'Delivery id (UUIDv7)' });

const EventTypes = Type.Array(
  Type.String({ pattern: EVENT_TYPE_PATTERN, maxLength: 100, description: 'e.g. stock.updated, or *' }),
  { minItems: 1, maxItems: EVENT_TYPES_PER_ENDPOINT_MAX, uniqueItems: true },
);
const StoreFilter = Type.Union([
  Type.Array(StoreId, { minItems: 1, maxItems: STORES_PER_ENDPOINT_MAX, uniqueItems: true }),
  Type.Null(),
]);
const Url = Type.String({
  minLength: 1,
  maxLength: WEBHOOK_URL_LENGTH_MAX,
  description: 'https (or http) URL on a public address',
});
const Description = Type.String({ maxLength: DESCRIPTION_LENGTH_MAX });

export const WebhookCreate = Type.Object(
  {
    url: Url,
    event_types: EventTypes,
    store_ids: Type.Optional(StoreFilter),
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type WebhookCreate = Static<typeof WebhookCreate>;

export const WebhookUpdate = Type.Object(
  {
    url: Type.Optional(Url),
    event_types: Type.Optional(EventTypes),
    store_ids: Type.Optional(StoreFilter),
    description: Type.Optional(Type.Union([Description, Type.Null()])),
    enabled: Type.Optional(Type.Boolean()),
    rotate_secret: Type.Optional(
      Type.Boolean({
        description: 'New signing secret, returned once; the old one keeps signing for 24 h',
      }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type WebhookUpdate = Static<typeof WebhookUpdate>;

const webhookFields = {
  id: Type.String(),
  url: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  event_types: Type.Array(Type.String()),
  store_ids: Type.Union([Type.Array(Type.String()), Type.Null()]),
  enabled: Type.Boolean(),
  version: Type.Integer(),
  consecutive_failures: Type.Integer({ description: 'Failed attempts in a row; the circuit opens at 5' }),
  circuit_open_until: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'While in the future, deliveries are held back',
  }),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
};

export const Webhook = Type.Object(webhookFields);
export type Webhook = Static<typeof Webhook>;

export const WebhookWithSecret = Type.Object({
  ...webhookFields,
  secret: Type.Optional(
    Type.String({ description: 'The signing secret (whsec_…): shown only in this response' }),
  ),
});
export type WebhookWithSecret = Static<typeof WebhookWithSecret>;

export const DELIVERY_STATUSES = ['PENDING', 'SUCCEEDED', 'FAILED', 'DEAD'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];
export const DeliveryStatusSchema = Type.Union([
  Type.Literal('PENDING'),
  Type.Literal('SUCCEEDED'),
  Type.Literal('FAILED'),
  Type.Literal('DEAD'),
]);

export const Delivery = Type.Object({
  id: Type.String(),
  webhook_id: Type.String(),
  event_id: Type.String(),
  event_type: Type.String(),
  event_sequence: Type.Integer(),
  status: DeliveryStatusSchema,
  attempts: Type.Integer({ description: 'Attempts since the delivery was last queued' }),
  last_status_code: Type.Union([Type.Integer(), Type.Null()]),
  last_error: Type.Union([Type.String(), Type.Null()]),
  last_attempt_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  next_attempt_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  delivered_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
});
export type Delivery = Static<typeof Delivery>;

export const ReplayRequest = Type.Object(
  {
    from_sequence: Type.Optional(
      Type.Integer({ minimum: 1, description: 'First event-log sequence to replay (inclusive)' }),
    ),
    from_time: Type.Optional(
      Type.String({ format: 'date-time', description: 'Replay events from this time on' }),
    ),
  },
  { additionalProperties: false },
);
export type ReplayRequest = Static<typeof ReplayRequest>;

export const ReplayResult = Type.Object({
  queued: Type.Integer({ description: 'Deliveries queued (or re-queued)' }),
  last_sequence: Type.Union([Type.Integer(), Type.Null()], {
    description: 'The last event-log sequence examined',
  }),
  truncated: Type.Boolean({
    description: 'The replay stopped at its size limit; continue from last_sequence + 1',
  }),
});
export type ReplayResult = Static<typeof ReplayResult>;
