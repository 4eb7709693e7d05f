/**
 * Errors that cross the HTTP boundary. Every module keeps a catalogue of `ErrorDefinition`s with
 * stable codes; `AppError` carries one plus the detail and extension members of the RFC 9457
 * problem document it becomes. Mapping to HTTP happens in one place: `error-handler.ts`.
 */
export interface ErrorDefinition {
  /** Stable, machine-readable: clients branch on it. Never renamed once published. */
  readonly code: string;
  readonly status: number;
  readonly title: string;
}

export interface FieldError {
  field: string;
  message: string;
}

export class AppError extends Error {
  override name = 'AppError';

  constructor(
    readonly definition: ErrorDefinition,
    detail: string,
    /** Extra members of the problem document, snake_case (e.g. `available`). */
    readonly extensions: Readonly<Record<string, unknown>> = {},
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    // A refusal the client caused (4xx) is logged by its code and detail, never with a stack, and
    // capturing one cost more than the rest of a refused reservation after a sell-out. A 5xx keeps
    // its stack: that one is read.
    const stackTraceLimit = Error.stackTraceLimit;
    if (definition.status < 500) Error.stackTraceLimit = 0;
    super(detail);
    Error.stackTraceLimit = stackTraceLimit;
  }

  get code(): string {
    return this.definition.code;
  }

  get status(): number {
    return this.definition.status;
  }
}

export function defineError(code: string, status: number, title: string): ErrorDefinition {
  return Object.freeze({ code, status, title });
}

/** Errors of the HTTP layer itself; modules define their own next to their code. */
export const HttpErrors = {
  validationFailed: defineError('VALIDATION_FAILED', 400, 'The request is not valid'),
  malformedJson: defineError('MALFORMED_JSON', 400, 'The request body is not valid JSON'),
  invalidCursor: defineError('INVALID_CURSOR', 400, 'The pagination cursor is not valid'),
  unauthenticated: defineError('UNAUTHENTICATED', 401, 'Authentication is required'),
  forbidden: defineError('FORBIDDEN', 403, 'Not allowed'),
  notFound: defineError('NOT_FOUND', 404, 'Not found'),
  methodNotAllowed: defineError('METHOD_NOT_ALLOWED', 405, 'Method not allowed'),
  conflict: defineError('CONFLICT', 409, 'The request conflicts with the current state'),
  idempotencyInProgress: defineError(
    'IDEMPOTENCY_REQUEST_IN_PROGRESS',
    409,
    'A request with this Idempotency-Key is in progress',
  ),
  versionConflict: defineError('VERSION_CONFLICT', 412, 'The resource changed since you read it'),
  payloadTooLarge: defineError('PAYLOAD_TOO_LARGE', 413, 'The request body is too large'),
  unsupportedMediaType: defineError('UNSUPPORTED_MEDIA_TYPE', 415, 'Unsupported media type'),
  idempotencyKeyReused: defineError(
    'IDEMPOTENCY_KEY_REUSED',
    422,
    'The Idempotency-Key was used for another request',
  ),
  preconditionRequired: defineError('PRECONDITION_REQUIRED', 428, 'This request must be conditional'),
  rateLimited: defineError('RATE_LIMITED', 429, 'Too many requests'),
  badRequest: defineError('BAD_REQUEST', 400, 'Bad request'),
  internal: defineError('INTERNAL_ERROR', 500, 'Internal error'),
  unavailable: defineError('SERVICE_UNAVAILABLE', 503, 'The service is temporarily unavailable'),
  overloaded: defineError('SERVICE_OVERLOADED', 503, 'The service is overloaded'),
} as const;

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  request_id?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export function problemTypeOf(code: string): string {
  return `urn:omnistock:problem:${code.toLowerCase().replaceAll('_', '-')}`;
}

export function toProblem(
  definition: ErrorDefinition,
  detail: string,
  extensions: Readonly<Record<string, unknown>> = {},
): ProblemDocument {
  return {
    ...extensions,
    type: problemTypeOf(definition.code),
    title: definition.title,
    status: definition.status,
    detail,
    code: definition.code,
  };
}
