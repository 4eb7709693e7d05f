import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { IdempotencyHeader, withProblems } from '../../platform/http/openapi.js';
import {
  decodeCursor,
  PAGE_LIMIT_DEFAULT,
  PageOf,
  PageQuery,
  toPage,
} from '../../platform/http/pagination.js';
import { ProductId, StoreId } from '../catalog/index.js';
import {
  Reservation,
  ReservationBatchCreate,
  ReservationCreate,
  ReservationStats,
  ReservationStatus,
} from './inventory.schemas.js';
import { type ReservationService, toReservation } from './reservation.service.js';

const ReservationParams = Type.Object({ reservationId: Type.String({ format: 'uuid' }) });
const ReservationPage = PageOf(Reservation);

/** HTTP for reservations: hold, confirm, cancel, and the views store staff need. */
export function reservationRoutes(reservations: ReservationService): FastifyPluginAsyncTypebox {
  return async (api) => {
    const tags = ['reservations'];

    api.post(
      '/reservations',
      {
        schema: {
          tags,
          summary: 'Reserve stock for a limited time',
          headers: IdempotencyHeader,
          body: ReservationCreate,
          response: withProblems({ 201: Reservation }),
        },
      },
      async (request, reply) => {
        const reservation = await reservations.create(request.context, request.body);
        return reply
          .code(201)
          .header('location', `/api/v1/reservations/${reservation.reservation_id}`)
          .send(reservation);
      },
    );

    api.post(
      '/reservations/batch',
      {
        schema: {
          tags,
          summary: 'Reserve several lines, all or nothing',
          headers: IdempotencyHeader,
          body: ReservationBatchCreate,
          response: withProblems({
            201: Type.Object({ batch_id: Type.String(), reservations: Type.Array(Reservation) }),
          }),
        },
      },
      async (request, reply) =>
        reply.code(201).send(await reservations.createBatch(request.context, request.body)),
    );

    api.get(
      '/reservations/stats',
      {
        schema: {
          tags,
          summary: 'Counts and units by status',
          querystring: Type.Object({ store_id: Type.Optional(StoreId) }, { additionalProperties: false }),
          response: withProblems({ 200: ReservationStats }),
        },
      },
      async (request) => reservations.stats(request.context.tenantId, request.query.store_id),
    );

    api.get(
      '/reservations/store/:storeId/pending',
      {
        schema: {
          tags,
          summary: 'Pending reservations of a store',
          params: Type.Object({ storeId: StoreId }),
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: withProblems({ 200: ReservationPage }),
        },
      },
      async (request) => {
        const limit = request.query.limit ?? PAGE_LIMIT_DEFAULT;
        const after =
          request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, ['string'])[0];
        const rows = await reservations.listPendingOfStore(
          request.context.tenantId,
          request.params.storeId,
          after,
          limit,
        );
        return toPage(
          rows,
          limit,
          (row) => [row.id],
          (row) => toReservation(row),
        );
      },
    );

    api.get(
      '/reservations/product/:productId/store/:storeId',
      {
        schema: {
          tags,
          summary: 'Reservations of one stock level',
          params: Type.Object({ productId: ProductId, storeId: StoreId }),
          querystring: Type.Object(
            { ...PageQuery, status: Type.Optional(ReservationStatus) },
            { additionalProperties: false },
          ),
          response: withProblems({ 200: ReservationPage }),
        },
      },
      async (request) => {
        const limit = request.query.limit ?? PAGE_LIMIT_DEFAULT;
        const afterId =
          request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, ['string'])[0];
        const rows = await reservations.listOfLevel({
          tenantId: request.context.tenantId,
          productId: request.params.productId,
          storeId: request.params.storeId,
          status: request.query.status,
          afterId,
          limit,
        });
        return toPage(
          rows,
          limit,
          (row) => [row.id],
          (row) => toReservation(row),
        );
      },
    );

    api.get(
      '/reservations/:reservationId',
      {
        schema: {
          tags,
          summary: 'One reservation',
          params: ReservationParams,
          response: withProblems({ 200: Reservation }),
        },
      },
      async (request) => reservations.get(request.context.tenantId, request.params.reservationId),
    );

    api.post(
      '/reservations/:reservationId/confirm',
      {
        schema: {
          tags,
          summary: 'Confirm: the reserved units are sold',
          params: ReservationParams,
          headers: IdempotencyHeader,
          response: withProblems({ 200: Reservation }),
        },
      },
      async (request) => reservations.confirm(request.context, request.params.reservationId),
    );

    api.post(
      '/reservations/:reservationId/cancel',
      {
        schema: {
          tags,
          summary: 'Cancel: the reserved units are released',
          params: ReservationParams,
          headers: IdempotencyHeader,
          response: withProblems({ 200: Reservation }),
        },
      },
      async (request) => reservations.cancel(request.context, request.params.reservationId),
    );
  };
}
