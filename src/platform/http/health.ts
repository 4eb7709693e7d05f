import type { FastifyInstance } from 'fastify';
import Type from 'typebox';

export interface HealthCheck {
  name: string;
  /** False: reported in the detail, but a failure does not make the instance unhealthy. Default true. */
  critical?: boolean;
  check(): Promise<void>;
}

const HealthReport = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  uptime_seconds: Type.Integer(),
  checks: Type.Record(
    Type.String(),
    Type.Object({ status: Type.String(), error: Type.Optional(Type.String()) }),
  ),
});

const CHECK_TIMEOUT_MS = 2_000;

async function runChecks(checks: readonly HealthCheck[]) {
  const results: Record<string, { status: string; error?: string }> = {};
  let healthy = true;
  await Promise.all(
    checks.map(async (check) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check.check(),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
              CHECK_TIMEOUT_MS,
            );
          }),
        ]);
        results[check.name] = { status: 'up' };
      } catch (error) {
        if (check.critical !== false) healthy = false;
        results[check.name] = {
          status: 'down',
          error: error instanceof Error ? error.message : String(error),
        };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { healthy, results };
}

/**
 * `/health`: the process answers and its database with it. `/ready`: this instance should get
 * traffic (dependencies reachable, schema current, not shutting down). Both bounded in time.
 */
export function registerHealthRoutes(
  server: FastifyInstance,
  options: {
    liveness: readonly HealthCheck[];
    readiness: readonly HealthCheck[];
    isShuttingDown: () => boolean;
  },
): void {
  const startedAt = Date.now();
  const report = async (checks: readonly HealthCheck[], extraHealthy = true) => {
    const { healthy, results } = await runChecks(checks);
    const ok = healthy && extraHealthy;
    return {
      code: ok ? (200 as const) : (503 as const),
      body: {
        status: ok ? ('ok' as const) : ('unavailable' as const),
        uptime_seconds: Math.floor((Date.now() - startedAt) / 1000),
        checks: results,
      },
    };
  };
  const schema = { tags: ['health'], response: { 200: HealthReport, 503: HealthReport } };
  const config = { access: 'public' as const };
  server.get(
    '/health',
    { schema: { ...schema, summary: 'Liveness: the process and its database' }, config },
    async (_request, reply) => {
      const { code, body } = await report(options.liveness);
      return reply.code(code).send(body);
    },
  );
  server.get(
    '/ready',
    { schema: { ...schema, summary: 'Readiness: dependencies up, schema current' }, config },
    async (_request, reply) => {
      const { code, body } = await report(options.readiness, !options.isShuttingDown());
      return reply.code(code).send(body);
    },
  );
}
