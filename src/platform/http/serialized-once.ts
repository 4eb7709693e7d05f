import type { FastifyReply } from 'fastify';

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** Sends `value` as the route's JSON answer, serialized at most once per value. */
export type SendSerializedOnce = (reply: FastifyReply, value: object) => void;

/**
 * For a route that answers many requests with the same object (a view held in an in-process
 * cache): the route's response schema serializes each object once, and every later answer of it
 * sends those bytes. Keyed by the object's identity, so a cache that replaces a value when it
 * changes gets a new serialization, and an old one goes with its value; an object must not change
 * in place. One per route: the bytes are what that route's schema makes of the object.
 */
export function sendSerializedOnce(): SendSerializedOnce {
  const serialized = new WeakMap<object, Buffer>();
  return (reply, value) => {
    let body = serialized.get(value);
    if (body === undefined) {
      const json = reply.serialize(value);
      body = typeof json === 'string' ? Buffer.from(json) : Buffer.from(new Uint8Array(json));
      serialized.set(value, body);
    }
    reply.type(JSON_CONTENT_TYPE).send(body);
  };
}
