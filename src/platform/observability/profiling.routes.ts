import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { requireAdmin } from '../http/auth.js';
import { AppError, defineError, HttpErrors } from '../http/problem.js';
import {
  CPU_PROFILE_SECONDS_DEFAULT,
  CPU_PROFILE_SECONDS_MAX,
  type Profiler,
  ProfilerBusyError,
} from './profiler.js';

export const ProfilingErrors = {
  busy: defineError('PROFILE_IN_PROGRESS', 409, 'A profile is already being taken'),
} as const;

/**
 * `POST /ops/profile/cpu?seconds=N` and `POST /ops/profile/heap`: profiles of the whole process,
 * which holds every tenant's data, so only an admin of the operator's tenant (DEFAULT_TENANT_ID)
 * may take them.
 */
export function profilingRoutes(profiler: Profiler, operatorTenantId: string): FastifyPluginAsyncTypebox {
  return async (api) => {
    api.addHook('onRequest', async (request) => {
      requireAdmin(request.context);
      if (request.context.tenantId !== operatorTenantId) {
        throw new AppError(HttpErrors.forbidden, "Profiling needs an admin key of the operator's tenant");
      }
    });
    const schema = { tags: ['operations'] };
    const busy = (error: unknown): never => {
      if (error instanceof ProfilerBusyError) throw new AppError(ProfilingErrors.busy, error.message);
      throw error;
    };

    api.post(
      '/ops/profile/cpu',
      {
        schema: {
          ...schema,
          summary: `CPU profile of this process over N seconds (1 to ${CPU_PROFILE_SECONDS_MAX}); a .cpuprofile`,
          querystring: Type.Object({
            seconds: Type.Integer({
              minimum: 1,
              maximum: CPU_PROFILE_SECONDS_MAX,
              default: CPU_PROFILE_SECONDS_DEFAULT,
            }),
          }),
        },
      },
      async (request, reply) => {
        // A client that goes away ends the profile early rather than leaving it running.
        const gone = new AbortController();
        request.raw.on('close', () => gone.abort());
        const profile = await profiler.cpuProfile(request.query.seconds, gone.signal).catch(busy);
        return reply
          .type('application/json')
          .header('content-disposition', `attachment; filename="omnistock-${stamp()}.cpuprofile"`)
          .send(profile);
      },
    );

    api.post(
      '/ops/profile/heap',
      {
        schema: {
          ...schema,
          summary: 'Heap snapshot of this process (pauses it while written); a .heapsnapshot',
        },
      },
      async (_request, reply) => {
        const snapshot = await profiler.heapSnapshot().catch(busy);
        return reply
          .type('application/json')
          .header('content-disposition', `attachment; filename="omnistock-${stamp()}.heapsnapshot"`)
          .send(snapshot);
      },
    );
  };
}

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}
