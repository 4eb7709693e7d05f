import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { sendSerializedOnce } from './serialized-once.js';

describe('sendSerializedOnce', () => {
  const server = Fastify();
  const send = sendSerializedOnce();
  let serializations = 0;
  const views = new Map<string, object>([
    ['a', { name: 'first', internal: 'not in the schema' }],
    ['b', { name: 'second' }],
  ]);
  server.get(
    '/views/:id',
    {
      schema: {
        response: { 200: { type: 'object', properties: { name: { type: 'string' } } } },
      },
    },
    (request, reply) => {
      send(reply, views.get((request.params as { id: string }).id) as object);
    },
  );
  server.setSerializerCompiler(({ schema }) => {
    const properties = Object.keys((schema as { properties: object }).properties);
    return (data) => {
      serializations += 1;
      return JSON.stringify(data, properties);
    };
  });
  afterAll(() => server.close());

  it("answers the route schema's JSON, serialized once per object", async () => {
    const first = await server.inject({ method: 'GET', url: '/views/a' });
    const again = await server.inject({ method: 'GET', url: '/views/a' });
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(first.body).toBe('{"name":"first"}');
    expect(first.headers['content-length']).toBe(String(first.body.length));
    expect(again.body).toBe(first.body);
    expect(serializations).toBe(1);

    expect((await server.inject({ method: 'GET', url: '/views/b' })).body).toBe('{"name":"second"}');
    expect(serializations).toBe(2);
  });

  it('serializes a replacing object anew: a changed view is never answered with old bytes', async () => {
    views.set('a', { name: 'renamed' });
    expect((await server.inject({ method: 'GET', url: '/views/a' })).body).toBe('{"name":"renamed"}');
    expect(serializations).toBe(3);
  });
});
