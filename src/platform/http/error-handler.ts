import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { constraintOf, isConnectivityError, SqlState, sqlStateOf } from '../db/database.js';
import { DatabaseUnavailableError } from '../db/resilient-database.js';
import {
  AppError,
  type ErrorDefinition,
  type FieldError,
  HttpErrors,
  PROBLEM_CONTENT_TYPE,
  type ProblemDocument,
  toProblem,
} from './problem.js';

/** Fastify's own client errors, by code, and what a client should read. */
const FRAMEWORK_ERRORS: Record<string, [ErrorDefinition, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [HttpErrors.malformedJson, 'The body could not be parsed as JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [HttpErrors.malformedJson, 'The body is empty but Content-Type is JSON'],
  FST_ERR_CTP_BODY_TOO_LARGE: [HttpErrors.payloadTooLarge, 'The body exceeds the size limit'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [HttpErrors.unsupportedMediaType, 'Send the body as application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [HttpErrors.badRequest, 'Content-Length does not match the body'],
  FST_ERR_CTP_INVALID_TYPE: [HttpErrors.unsupportedMediaType, 'Content-Type is not valid'],
};

const RETRY_AFTER_SECONDS = '2';

/** The one place where errors become RFC 9457 problem documents. Never a stack trace, never SQL. */
export function registerErrorHandling(server: FastifyInstance): void {
  server.setErrorHandler((error: FastifyError | AppError | Error, request, reply) => {
    const { problem, headers } = problemFor(error);
    if (problem.status >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else {
      request.log.info({ code: problem.code, status: problem.status }, problem.detail);
    }
    return sendProblem(reply, request, problem, headers);
  });

  server.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      request,
      toProblem(HttpErrors.notFound, `No route for ${request.method} ${request.url}`),
    ),
  );
}

export function sendProblem(
  reply: FastifyReply,
  request: FastifyRequest,
  problem: ProblemDocument,
  headers: Readonly<Record<string, string>> = {},
): FastifyReply {
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);
  const document: ProblemDocument = { ...problem, instance: request.url, request_id: String(request.id) };
  // Serialised here so that no response schema can strip extension members.
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(document));
}

function problemFor(error: FastifyError | AppError | Error): {
  problem: ProblemDocument;
  headers: Readonly<Record<string, string>>;
} {
  if (error instanceof AppError) {
    return { problem: toProblem(error.definition, error.message, error.extensions), headers: error.headers };
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const errors = fastifyError.validation.map((issue) =>
      fieldErrorOf(fastifyError.validationContext ?? 'request', issue),
    );
    const detail = errors.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
    return { problem: { ...toProblem(HttpErrors.validationFailed, detail), errors }, headers: {} };
  }
  const framework = fastifyError.code === undefined ? undefined : FRAMEWORK_ERRORS[fastifyError.code];
  if (framework) return { problem: toProblem(framework[0], framework[1]), headers: {} };
  if (error instanceof SyntaxError && fastifyError.statusCode === 400) {
    return {
      problem: toProblem(HttpErrors.malformedJson, 'The body could not be parsed as JSON'),
      headers: {},
    };
  }
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    const definition =
      status === 404
        ? HttpErrors.notFound
        : status === 405
          ? HttpErrors.methodNotAllowed
          : HttpErrors.badRequest;
    return { problem: toProblem({ ...definition, status }, error.message), headers: {} };
  }
  const sqlState = sqlStateOf(error);
  if (sqlState === SqlState.uniqueViolation) {
    return {
      problem: toProblem(
        HttpErrors.conflict,
        `A resource with the same key already exists (${constraintOf(error) ?? 'unique'})`,
      ),
      headers: {},
    };
  }
  // Class 22 (data exception): a request value the schemas let through but SQL cannot take, such
  // as a cursor naming a malformed id. The client's input, so a 400; the SQL message stays in the log.
  if (sqlState?.startsWith('22')) {
    return {
      problem: toProblem(
        HttpErrors.badRequest,
        'A value in the request cannot be used; check ids and cursors',
      ),
      headers: {},
    };
  }
  if (sqlState === SqlState.queryCanceled) {
    return {
      problem: toProblem(HttpErrors.unavailable, 'The database did not answer in time'),
      headers: { 'retry-after': RETRY_AFTER_SECONDS },
    };
  }
  if (error instanceof DatabaseUnavailableError) {
    return {
      problem: toProblem(HttpErrors.unavailable, `${error.message}; retry shortly`),
      headers: { 'retry-after': String(error.retryAfterSeconds) },
    };
  }
  if (isConnectivityError(error)) {
    return {
      problem: toProblem(HttpErrors.unavailable, 'A dependency is unavailable; retry shortly'),
      headers: { 'retry-after': RETRY_AFTER_SECONDS },
    };
  }
  return {
    problem: toProblem(HttpErrors.internal, 'An unexpected error occurred; it has been logged'),
    headers: {},
  };
}

interface ValidationIssue {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

function fieldErrorOf(context: string, issue: ValidationIssue): FieldError {
  const path = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
  if (issue.keyword === 'required') {
    const missing = String(issue.params['missingProperty'] ?? '');
    return { field: joinPath(context, path, missing), message: 'is required' };
  }
  if (issue.keyword === 'additionalProperties') {
    const extra = String(issue.params['additionalProperty'] ?? '');
    return { field: joinPath(context, path, extra), message: 'is not a known field' };
  }
  return { field: joinPath(context, path), message: issue.message ?? 'is not valid' };
}

function joinPath(...parts: string[]): string {
  return parts.filter((part) => part !== '').join('.');
}
