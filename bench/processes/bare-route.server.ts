import Fastify from 'fastify';

/**
 * The read ceiling: the HTTP framework alone, one GET answering a small JSON object through a
 * response schema (the service's own way of serialising), no hooks, no database, no logging. Run as
 * a process of its own, like the service, so the same load generator meets the same kind of target.
 */
const app = Fastify({ logger: false });
app.get(
  '/bare',
  {
    schema: {
      response: {
        200: {
          type: 'object',
          properties: { product_id: { type: 'string' }, available: { type: 'integer' } },
          required: ['product_id', 'available'],
        },
      },
    },
  },
  async () => ({ product_id: '01a20965-5194-7399-9888-e2136dbd40f5', available: 42 }),
);
app.get('/ready', async () => ({ status: 'ok' }));
await app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' });
process.once('SIGTERM', () => {
  app.close().then(() => process.exit(0));
});
