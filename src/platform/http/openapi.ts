import Type, { type TSchema } from 'typebox';

/** RFC 9457 problem document as the OpenAPI contract shows it. */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable machine-readable error code' }),
    instance: Type.Optional(Type.String()),
    request_id: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
  },
  { additionalProperties: true, $id: undefined },
);

const problemResponse = {
  description: 'RFC 9457 problem document',
  content: { 'application/problem+json': { schema: Problem } },
};

/** Success schemas plus the problem documents every route may answer with. */
export function withProblems<const Success extends Record<number, TSchema | { description: string }>>(
  success: Success,
) {
  return { ...success, '4xx': problemResponse, '5xx': problemResponse };
}

export const AUTHENTICATED: Array<Record<string, string[]>> = [{ apiKey: [] }, { bearer: [] }];
export const PUBLIC: [] = [];

export const IfMatchHeader = Type.Object({
  'if-match': Type.Optional(Type.String({ maxLength: 100, description: 'ETag of the version you read' })),
});

export const IdempotencyHeader = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ maxLength: 255, description: 'Replays the first response for a repeated request' }),
  ),
});
