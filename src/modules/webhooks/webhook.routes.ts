import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { requireAdmin } from '../../platform/http/auth.js';
import { etagOf, optionalIfMatchVersion } from '../../platform/http/etag.js';
import { IdempotencyHeader, IfMatchHeader, withProblems } from '../../platform/http/openapi.js';
import {
  decodeCursor,
  PAGE_LIMIT_DEFAULT,
  PageOf,
  PageQuery,
  toPage,
} from '../../platform/http/pagination.js';
import { toDelivery, toWebhook, type WebhookService } from './webhook.service.js';
import {
  Delivery,
  DeliveryId,
  DeliveryStatusSchema,
  ReplayRequest,
  ReplayResult,
  Webhook,
  WebhookCreate,
  WebhookId,
  WebhookUpdate,
  WebhookWithSecret,
} from './webhooks.schemas.js';

const WebhookParams = Type.Object({ webhookId: WebhookId });

/**
 * HTTP for webhook endpoints and their delivery log. Administrators only: an endpoint receives
 * every event of the tenant it subscribes to, reservations and customers included.
 */
export function webhookRoutes(webhooks: WebhookService): FastifyPluginAsyncTypebox {
  return async (api) => {
    const tags = ['webhooks'];
    // Before the body is read and before an Idempotency-Key is claimed.
    api.addHook('onRequest', async (request) => requireAdmin(request.context));

    api.post(
      '/webhooks',
      {
        schema: {
          tags,
          summary: 'Register a webhook endpoint (its signing secret is in this response only)',
          headers: IdempotencyHeader,
          body: WebhookCreate,
          response: withProblems({ 201: WebhookWithSecret }),
        },
      },
      async (request, reply) => {
        const webhook = await webhooks.create(request.context, request.body);
        return reply
          .code(201)
          .header('location', `/api/v1/webhooks/${webhook.id}`)
          .header('etag', etagOf(webhook.version))
          .header('cache-control', 'no-store')
          .send(webhook);
      },
    );

    api.get(
      '/webhooks',
      {
        schema: {
          tags,
          summary: 'List webhook endpoints',
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: withProblems({ 200: PageOf(Webhook) }),
        },
      },
      async (request) => {
        const limit = request.query.limit ?? PAGE_LIMIT_DEFAULT;
        const after =
          request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, ['string'])[0];
        const rows = await webhooks.list(request.context.tenantId, after, limit);
        return toPage(rows, limit, (row) => [row.id], toWebhook);
      },
    );

    api.get(
      '/webhooks/:webhookId',
      {
        schema: {
          tags,
          summary: 'Get a webhook endpoint',
          params: WebhookParams,
          response: withProblems({ 200: Webhook }),
        },
      },
      async (request, reply) => {
        const webhook = await webhooks.get(request.context.tenantId, request.params.webhookId);
        return reply.header('etag', etagOf(webhook.version)).send(webhook);
      },
    );

    api.patch(
      '/webhooks/:webhookId',
      {
        schema: {
          tags,
          summary: 'Change a webhook endpoint, or rotate its secret (If-Match optional)',
          params: WebhookParams,
          headers: IfMatchHeader,
          body: WebhookUpdate,
          response: withProblems({ 200: WebhookWithSecret }),
        },
      },
      async (request, reply) => {
        const version = optionalIfMatchVersion(request.headers['if-match']);
        const webhook = await webhooks.update(
          request.context,
          request.params.webhookId,
          version,
          request.body,
        );
        reply.header('etag', etagOf(webhook.version));
        if (webhook.secret !== undefined) reply.header('cache-control', 'no-store');
        return reply.send(webhook);
      },
    );

    api.delete(
      '/webhooks/:webhookId',
      {
        schema: {
          tags,
          summary: 'Delete a webhook endpoint with its secrets and delivery log',
          params: WebhookParams,
          response: withProblems({ 204: { description: 'Deleted' } }),
        },
      },
      async (request, reply) => {
        await webhooks.delete(request.context, request.params.webhookId);
        return reply.code(204).send();
      },
    );

    api.get(
      '/webhooks/:webhookId/deliveries',
      {
        schema: {
          tags,
          summary: 'The delivery log of an endpoint, newest first',
          params: WebhookParams,
          querystring: Type.Object(
            { ...PageQuery, status: Type.Optional(DeliveryStatusSchema) },
            { additionalProperties: false },
          ),
          response: withProblems({ 200: PageOf(Delivery) }),
        },
      },
      async (request) => {
        const limit = request.query.limit ?? PAGE_LIMIT_DEFAULT;
        const beforeId =
          request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, ['string'])[0];
        const rows = await webhooks.listDeliveries(request.context.tenantId, request.params.webhookId, {
          status: request.query.status,
          beforeId,
          limit,
        });
        return toPage(rows, limit, (row) => [row.id], toDelivery);
      },
    );

    api.post(
      '/webhooks/:webhookId/deliveries/:deliveryId/redeliver',
      {
        schema: {
          tags,
          summary: 'Send a delivery again now, with a fresh retry schedule (DEAD ones too)',
          headers: IdempotencyHeader,
          params: Type.Object({ webhookId: WebhookId, deliveryId: DeliveryId }),
          response: withProblems({ 202: Delivery }),
        },
      },
      async (request, reply) => {
        const delivery = await webhooks.redeliver(
          request.context,
          request.params.webhookId,
          request.params.deliveryId,
        );
        return reply.code(202).send(delivery);
      },
    );

    api.post(
      '/webhooks/:webhookId/replay',
      {
        schema: {
          tags,
          summary: 'Queue the matching events of the event log again, from a sequence or a time on',
          headers: IdempotencyHeader,
          params: WebhookParams,
          body: ReplayRequest,
          response: withProblems({ 202: ReplayResult }),
        },
      },
      async (request, reply) => {
        const result = await webhooks.replay(request.context, request.params.webhookId, request.body);
        return reply.code(202).send(result);
      },
    );
  };
}
