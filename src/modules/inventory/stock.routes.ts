import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import {
  requireNamedStoreWhenScoped,
  requireStoreAccess,
  STAFF_ROLES,
  staffOnly,
} from '../../platform/http/authorization.js';
import { etagOf, requireIfMatchVersion } from '../../platform/http/etag.js';
import { IdempotencyHeader, IfMatchHeader, withProblems } from '../../platform/http/openapi.js';
import {
  decodeCursor,
  PAGE_LIMIT_DEFAULT,
  PageOf,
  PageQuery,
  toPage,
} from '../../platform/http/pagination.js';
import { sendSerializedOnce } from '../../platform/http/serialized-once.js';
import { ProductId, StoreId } from '../catalog/index.js';
import {
  LevelAvailability,
  LevelParams,
  Movement,
  OPERATION_QUANTITY_MAX,
  ProductAvailability,
  ProductStock,
  StockAdjust,
  StockInitialise,
  StockLevel,
  StockSet,
  StockTransfer,
  TransferResult,
} from './inventory.schemas.js';
import type { MovementRow } from './movement.repository.js';
import { type StockService, toStockLevel } from './stock.service.js';

function toMovement(row: MovementRow): Movement {
  return { ...row, created_at: row.created_at.toISOString() };
}

/**
 * HTTP for stock levels, their ledger and availability. Reads of a level and of availability are
 * public (the storefront); everything else is for staff (admin, manager, vendor) in their stores.
 */
export function stockRoutes(stock: StockService): FastifyPluginAsyncTypebox {
  return async (api) => {
    const tags = ['stock'];
    api.addHook('onRequest', staffOnly(STAFF_ROLES));

    api.post(
      '/stock',
      {
        schema: {
          tags,
          summary: 'Initialise stock of a product in a store',
          headers: IdempotencyHeader,
          body: StockInitialise,
          response: withProblems({ 201: StockLevel }),
        },
      },
      async (request, reply) => {
        requireStoreAccess(request.context, request.body.store_id);
        const level = await stock.initialise(request.context, request.body);
        return reply
          .code(201)
          .header('location', `/api/v1/stock/${level.product_id}/${level.store_id}`)
          .header('etag', etagOf(level.version))
          .send(level);
      },
    );

    api.get(
      '/stock/product/:productId',
      {
        config: { access: 'public' },
        schema: {
          tags,
          summary: 'Stock of a product in every store, with totals',
          params: Type.Object({ productId: ProductId }),
          response: withProblems({ 200: ProductStock }),
        },
      },
      async (request) => stock.listByProduct(request.context.tenantId, request.params.productId),
    );

    api.get(
      '/stock/store/:storeId',
      {
        schema: {
          tags,
          summary: 'Stock of every product in a store',
          params: Type.Object({ storeId: StoreId }),
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: withProblems({ 200: PageOf(StockLevel) }),
        },
      },
      async (request) => {
        const limit = request.query.limit ?? PAGE_LIMIT_DEFAULT;
        const after =
          request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, ['string'])[0];
        const rows = await stock.listByStore(request.context.tenantId, request.params.storeId, after, limit);
        return toPage(rows, limit, (row) => [row.product_id], toStockLevel);
      },
    );

    api.get(
      '/stock/low-stock',
      {
        schema: {
          tags,
          summary: 'Levels whose available quantity is below their threshold',
          querystring: Type.Object(
            { ...PageQuery, store_id: Type.Optional(StoreId) },
            { additionalProperties: false },
          ),
          response: withProblems({ 200: PageOf(StockLevel) }),
        },
      },
      async (request) => {
        const limit = request.query.limit ?? PAGE_LIMIT_DEFAULT;
        const after =
          request.query.cursor === undefined
            ? undefined
            : decodeCursor(request.query.cursor, ['string', 'string']);
        requireNamedStoreWhenScoped(request.context, request.query.store_id);
        const rows = await stock.listLowStock(request.context.tenantId, {
          storeId: request.query.store_id,
          after,
          limit,
        });
        return toPage(rows, limit, (row) => [row.product_id, row.store_id], toStockLevel);
      },
    );

    api.post(
      '/stock/transfer',
      {
        schema: {
          tags,
          summary: 'Move available stock between two stores atomically',
          headers: IdempotencyHeader,
          body: StockTransfer,
          response: withProblems({ 200: TransferResult }),
        },
      },
      async (request) => {
        requireStoreAccess(request.context, request.body.from_store_id);
        requireStoreAccess(request.context, request.body.to_store_id);
        return stock.transfer(request.context, request.body);
      },
    );

    api.get(
      '/stock/:productId/:storeId',
      {
        config: { access: 'public' },
        schema: {
          tags,
          summary: 'One stock level',
          params: LevelParams,
          response: withProblems({ 200: StockLevel }),
        },
      },
      async (request, reply) => {
        const level = await stock.get({ tenantId: request.context.tenantId, ...request.params });
        return reply.header('etag', etagOf(level.version)).send(level);
      },
    );

    api.get(
      '/stock/:productId/:storeId/availability',
      {
        config: { access: 'public' },
        schema: {
          tags,
          summary: 'Whether a quantity is available',
          params: LevelParams,
          querystring: Type.Object(
            {
              quantity: Type.Optional(
                Type.Integer({ minimum: 1, maximum: OPERATION_QUANTITY_MAX, default: 1 }),
              ),
            },
            { additionalProperties: false },
          ),
          response: withProblems({ 200: LevelAvailability }),
        },
      },
      async (request) =>
        stock.availability(
          { tenantId: request.context.tenantId, ...request.params },
          request.query.quantity ?? 1,
        ),
    );

    api.put(
      '/stock/:productId/:storeId',
      {
        schema: {
          tags,
          summary: 'Set on-hand to a counted quantity (If-Match required)',
          params: LevelParams,
          headers: IfMatchHeader,
          body: StockSet,
          response: withProblems({ 200: StockLevel }),
        },
      },
      async (request, reply) => {
        const version = requireIfMatchVersion(request.headers['if-match']);
        const level = await stock.set(
          request.context,
          { tenantId: request.context.tenantId, ...request.params },
          version,
          request.body,
        );
        return reply.header('etag', etagOf(level.version)).send(level);
      },
    );

    api.post(
      '/stock/:productId/:storeId/adjust',
      {
        schema: {
          tags,
          summary: 'Change on-hand by a relative amount, with a reason',
          params: LevelParams,
          headers: IdempotencyHeader,
          body: StockAdjust,
          response: withProblems({ 200: StockLevel }),
        },
      },
      async (request, reply) => {
        const level = await stock.adjust(
          request.context,
          { tenantId: request.context.tenantId, ...request.params },
          request.body,
        );
        return reply.header('etag', etagOf(level.version)).send(level);
      },
    );

    api.get(
      '/stock/:productId/:storeId/movements',
      {
        schema: {
          tags,
          summary: 'The ledger of a level, newest first',
          params: LevelParams,
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: withProblems({ 200: PageOf(Movement) }),
        },
      },
      async (request) => {
        const limit = request.query.limit ?? PAGE_LIMIT_DEFAULT;
        const before =
          request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, ['string'])[0];
        const rows = await stock.movements(
          { tenantId: request.context.tenantId, ...request.params },
          before,
          limit,
        );
        return toPage(rows, limit, (row) => [row.id], toMovement);
      },
    );

    // The hot read answers the same held view to many customers: serialized once per view.
    const sendHeldAvailability = sendSerializedOnce();
    api.get(
      '/products/:productId/availability',
      {
        config: { access: 'public' },
        schema: {
          tags: ['products'],
          summary: 'Customer view: availability per store',
          params: Type.Object({ productId: ProductId }),
          response: withProblems({ 200: ProductAvailability }),
        },
      },
      // Not an async handler: a view this instance holds is answered without a promise (the hot read).
      (request, reply) => {
        const { tenantId } = request.context;
        const { productId } = request.params;
        const held = stock.cachedProductAvailability(tenantId, productId);
        if (held !== undefined) {
          sendHeldAvailability(reply, held);
          return;
        }
        return stock.productAvailability(tenantId, productId).then((read) => {
          // RFC 9211: the client learns the answer is the last one known, not a current one.
          if (read.stale) {
            reply.header(
              'cache-status',
              `omnistock; hit; ttl=${-read.staleForSeconds}; detail=stale-if-error`,
            );
          }
          return read.value;
        });
      },
    );
  };
}
