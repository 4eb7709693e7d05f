import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { headerValue, requireAdmin } from '../../platform/http/auth.js';
import { requireNamedStoreWhenScoped, STAFF_ROLES } from '../../platform/http/authorization.js';
import { withProblems } from '../../platform/http/openapi.js';
import { PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX } from '../../platform/http/pagination.js';
import { AppError, HttpErrors } from '../../platform/http/problem.js';
import type { RequestContext } from '../../platform/http/request-context.js';
import { ProductId, StoreId } from '../catalog/index.js';
import { parseTypeList } from './event-filter.js';
import { type EventStreamHub, TooManyStreamsError } from './event-stream.hub.js';
import type { EventsService } from './events.service.js';

const SEQUENCE_PATTERN = '^(0|[1-9][0-9]{0,15})$';
const TYPE_LIST = Type.String({
  maxLength: 500,
  pattern: '^[a-z*.,_ -]+$',
  description: 'Comma-separated types; `reservation.*` matches a family',
});

const LoggedEvent = Type.Object(
  {
    sequence: Type.Integer({ description: 'Position in the event log; the SSE id and the paging cursor' }),
    id: Type.String(),
    type: Type.String(),
    source: Type.String(),
    subject: Type.String(),
    time: Type.String(),
    specversion: Type.String(),
    tenantid: Type.String(),
    correlationid: Type.String(),
    data: Type.Unknown(),
  },
  { additionalProperties: true },
);

/** Checked when the request arrives: before an idempotency key is claimed or a body is read. */
function isStaff(context: RequestContext): boolean {
  const role = context.principal?.role;
  return role !== undefined && STAFF_ROLES.includes(role);
}

const adminOnly = async (request: FastifyRequest) => requireAdmin(request.context);

/** HTTP for the event log: paging, the live stream, backlog figures, replay. */
export function eventsRoutes(events: EventsService, hub: EventStreamHub): FastifyPluginAsyncTypebox {
  return async (api) => {
    const tags = ['events'];

    api.get(
      '/events',
      {
        // The full log carries customers' reservations and every store's figures.
        onRequest: adminOnly,
        schema: {
          tags,
          summary: 'Page the event log after a cursor (catch-up and audit)',
          querystring: Type.Object(
            {
              after: Type.Optional(Type.String({ pattern: SEQUENCE_PATTERN })),
              limit: Type.Optional(
                Type.Integer({ minimum: 1, maximum: PAGE_LIMIT_MAX, default: PAGE_LIMIT_DEFAULT }),
              ),
              type: Type.Optional(TYPE_LIST),
            },
            { additionalProperties: false },
          ),
          response: withProblems({
            200: Type.Object({
              data: Type.Array(LoggedEvent),
              next_cursor: Type.Union([Type.String(), Type.Null()]),
              last_sequence: Type.Integer(),
            }),
          }),
        },
      },
      async (request) => {
        const after = Number(request.query.after ?? '0');
        const limit = request.query.limit ?? PAGE_LIMIT_DEFAULT;
        const types = parseTypeList(request.query.type);
        const rows = await events.page(
          request.context.tenantId,
          after,
          limit,
          types.length > 0 ? types : undefined,
        );
        const last = rows.at(-1)?.sequence ?? after;
        return {
          data: rows.map((row) => ({ ...row.envelope, sequence: row.sequence })),
          next_cursor: rows.length === limit ? String(last) : null,
          last_sequence: last,
        };
      },
    );

    api.get(
      '/events/stream',
      {
        config: { access: 'public' },
        schema: {
          tags,
          summary: 'Live Server-Sent Events, filterable, resumable with Last-Event-ID',
          description:
            'Anonymous callers and customers receive stock, product and store events; staff every type of their tenant (staff limited to some stores must name one with store_id).',
          querystring: Type.Object(
            {
              store_id: Type.Optional(StoreId),
              product_id: Type.Optional(ProductId),
              type: Type.Optional(TYPE_LIST),
              last_event_id: Type.Optional(Type.String({ pattern: SEQUENCE_PATTERN })),
            },
            { additionalProperties: false },
          ),
          response: withProblems({ 200: { description: 'text/event-stream' } }),
        },
      },
      async (request, reply) => {
        const lastEventId = headerValue(request, 'last-event-id') ?? request.query.last_event_id;
        if (lastEventId !== undefined && !new RegExp(SEQUENCE_PATTERN).test(lastEventId)) {
          throw new AppError(HttpErrors.badRequest, 'Last-Event-ID must be an event-log sequence');
        }
        const filter = {
          tenantId: request.context.tenantId,
          types: parseTypeList(request.query.type),
          storeId: request.query.store_id,
          productId: request.query.product_id,
          publicOnly: !isStaff(request.context),
        };
        if (!filter.publicOnly) requireNamedStoreWhenScoped(request.context, request.query.store_id);
        if (!hub.hasCapacity) {
          throw new AppError(
            HttpErrors.unavailable,
            'Too many live streams on this instance; retry shortly',
            {},
            { 'retry-after': '5' },
          );
        }
        reply.hijack();
        reply.raw.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
          'x-request-id': String(request.id),
        });
        try {
          await hub.open(filter, reply.raw, lastEventId === undefined ? undefined : Number(lastEventId));
        } catch (error) {
          if (!(error instanceof TooManyStreamsError))
            request.log.error({ err: error }, 'event stream failed');
          reply.raw.end();
        }
      },
    );

    api.get(
      '/events/pending',
      {
        onRequest: adminOnly,
        schema: {
          tags,
          summary: 'Outbox backlog: events not yet acknowledged by the broker (admin)',
          response: withProblems({
            200: Type.Object({
              pending: Type.Integer(),
              unsequenced: Type.Integer(),
              abandoned: Type.Integer(),
              oldest_pending_age_seconds: Type.Integer(),
              broker: Type.String(),
              breaker_state: Type.String(),
            }),
          }),
        },
      },
      async (request) => {
        return events.pending(request.context.tenantId);
      },
    );

    api.post(
      '/events/replay',
      {
        onRequest: adminOnly,
        schema: {
          tags,
          summary: 'Re-publish the event log to the broker from a position or a time (admin)',
          body: Type.Object(
            {
              after_sequence: Type.Optional(Type.Integer({ minimum: 0 })),
              since: Type.Optional(Type.String({ format: 'date-time' })),
            },
            { additionalProperties: false },
          ),
          response: withProblems({
            200: Type.Object({
              replay_id: Type.String(),
              replayed: Type.Integer(),
              from_sequence: Type.Integer(),
              last_sequence: Type.Integer(),
              complete: Type.Boolean(),
            }),
          }),
        },
      },
      async (request) => {
        const { after_sequence: afterSequence, since } = request.body;
        if ((afterSequence === undefined) === (since === undefined)) {
          throw new AppError(HttpErrors.validationFailed, 'Give exactly one of after_sequence and since');
        }
        return events.replayToBroker(request.context.tenantId, {
          ...(afterSequence === undefined ? {} : { afterSequence }),
          ...(since === undefined ? {} : { since: new Date(since) }),
        });
      },
    );
  };
}
