import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { allowRoles, CATALOG_ROLES, requireStoreAccess } from '../../platform/http/authorization.js';
import { etagOf, optionalIfMatchVersion, requireIfMatchVersion } from '../../platform/http/etag.js';
import { IdempotencyHeader, IfMatchHeader, withProblems } from '../../platform/http/openapi.js';
import {
  decodeCursor,
  PAGE_LIMIT_DEFAULT,
  PageOf,
  PageQuery,
  toPage,
} from '../../platform/http/pagination.js';
import { Product, ProductId, ProductWrite, Sku, Store, StoreCreate, StoreId } from './catalog.schemas.js';
import { type ProductService, toProduct } from './product.service.js';
import { type StoreService, toStore } from './store.service.js';

/**
 * HTTP for stores and products: schemas in, one service call, schemas out. Reads are public (the
 * storefront); writes belong to admins and managers (a manager limited to some stores creates
 * only those).
 */
export function catalogRoutes(stores: StoreService, products: ProductService): FastifyPluginAsyncTypebox {
  const catalogWriters = allowRoles(...CATALOG_ROLES);
  return async (api) => {
    api.post(
      '/stores',
      {
        onRequest: catalogWriters,
        schema: {
          tags: ['stores'],
          summary: 'Create a store',
          headers: IdempotencyHeader,
          body: StoreCreate,
          response: withProblems({ 201: Store }),
        },
      },
      async (request, reply) => {
        requireStoreAccess(request.context, request.body.id);
        const store = await stores.create(request.context, request.body);
        return reply.code(201).header('location', `/api/v1/stores/${store.id}`).send(store);
      },
    );

    api.get(
      '/stores',
      {
        config: { access: 'public' },
        schema: {
          tags: ['stores'],
          summary: 'List stores',
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: withProblems({ 200: PageOf(Store) }),
        },
      },
      async (request) => {
        const limit = request.query.limit ?? PAGE_LIMIT_DEFAULT;
        const after =
          request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, ['string'])[0];
        const rows = await stores.list(request.context.tenantId, after, limit);
        return toPage(rows, limit, (row) => [row.id], toStore);
      },
    );

    api.get(
      '/stores/:storeId',
      {
        config: { access: 'public' },
        schema: {
          tags: ['stores'],
          summary: 'Get a store',
          params: Type.Object({ storeId: StoreId }),
          response: withProblems({ 200: Store }),
        },
      },
      async (request) => stores.get(request.context.tenantId, request.params.storeId),
    );

    api.post(
      '/products',
      {
        onRequest: catalogWriters,
        schema: {
          tags: ['products'],
          summary: 'Create a product',
          headers: IdempotencyHeader,
          body: ProductWrite,
          response: withProblems({ 201: Product }),
        },
      },
      async (request, reply) => {
        const product = await products.create(request.context, request.body);
        return reply
          .code(201)
          .header('location', `/api/v1/products/${product.id}`)
          .header('etag', etagOf(product.version))
          .send(product);
      },
    );

    api.get(
      '/products',
      {
        config: { access: 'public' },
        schema: {
          tags: ['products'],
          summary: 'List products',
          querystring: Type.Object(
            { ...PageQuery, category: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) },
            { additionalProperties: false },
          ),
          response: withProblems({ 200: PageOf(Product) }),
        },
      },
      async (request) => {
        const limit = request.query.limit ?? PAGE_LIMIT_DEFAULT;
        const afterId =
          request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, ['string'])[0];
        const rows = await products.list(request.context.tenantId, {
          category: request.query.category,
          afterId,
          limit,
        });
        return toPage(rows, limit, (row) => [row.id], toProduct);
      },
    );

    api.get(
      '/products/sku/:sku',
      {
        config: { access: 'public' },
        schema: {
          tags: ['products'],
          summary: 'Get a product by SKU',
          params: Type.Object({ sku: Sku }),
          response: withProblems({ 200: Product }),
        },
      },
      async (request, reply) => {
        const product = await products.getBySku(request.context.tenantId, request.params.sku);
        return reply.header('etag', etagOf(product.version)).send(product);
      },
    );

    api.get(
      '/products/:productId',
      {
        config: { access: 'public' },
        schema: {
          tags: ['products'],
          summary: 'Get a product',
          params: Type.Object({ productId: ProductId }),
          response: withProblems({ 200: Product }),
        },
      },
      async (request, reply) => {
        const product = await products.get(request.context.tenantId, request.params.productId);
        return reply.header('etag', etagOf(product.version)).send(product);
      },
    );

    api.put(
      '/products/:productId',
      {
        onRequest: catalogWriters,
        schema: {
          tags: ['products'],
          summary: 'Replace a product (If-Match required)',
          params: Type.Object({ productId: ProductId }),
          headers: IfMatchHeader,
          body: ProductWrite,
          response: withProblems({ 200: Product }),
        },
      },
      async (request, reply) => {
        const version = requireIfMatchVersion(request.headers['if-match']);
        const product = await products.update(
          request.context,
          request.params.productId,
          version,
          request.body,
        );
        return reply.header('etag', etagOf(product.version)).send(product);
      },
    );

    api.delete(
      '/products/:productId',
      {
        onRequest: catalogWriters,
        schema: {
          tags: ['products'],
          summary: 'Delete a product (refused while stock is reserved)',
          params: Type.Object({ productId: ProductId }),
          headers: IfMatchHeader,
          response: withProblems({ 204: { description: 'Deleted' } }),
        },
      },
      async (request, reply) => {
        const version = optionalIfMatchVersion(request.headers['if-match']);
        await products.delete(request.context, request.params.productId, version);
        return reply.code(204).send();
      },
    );
  };
}
