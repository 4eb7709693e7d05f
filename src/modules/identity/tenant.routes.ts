import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { credentialOf } from '../../platform/http/auth.js';
import { BEARER_CHALLENGE } from '../../platform/http/authorization.js';
import { withProblems } from '../../platform/http/openapi.js';
import { AppError, HttpErrors } from '../../platform/http/problem.js';
import type { RequestContext } from '../../platform/http/request-context.js';
import { secretsEqual } from '../../platform/security/api-key.js';
import { Tenant, TenantCreate, TenantCreated, TenantId } from './identity.schemas.js';
import type { TenantService } from './tenant.service.js';

/**
 * The platform operator's routes. The operator key belongs to no tenant: it is compared here, in
 * constant time, with OMNISTOCK_OPERATOR_API_KEY. Without that setting the routes do not exist (404).
 */
export function tenantRoutes(
  tenants: TenantService,
  operatorApiKey: string | undefined,
): FastifyPluginAsyncTypebox {
  return async (api) => {
    const tags = ['tenants'];
    const config = { access: 'operator' as const };
    const requireOperator = async (request: FastifyRequest): Promise<void> => {
      if (operatorApiKey === undefined) {
        throw new AppError(HttpErrors.notFound, `No route for ${request.method} ${request.url}`);
      }
      const credential = credentialOf(request);
      if (credential === undefined || !secretsEqual(credential, operatorApiKey)) {
        throw new AppError(
          HttpErrors.unauthenticated,
          'This route needs the operator key',
          {},
          BEARER_CHALLENGE,
        );
      }
      request.context = operatorContext(request);
    };

    api.post(
      '/tenants',
      {
        config,
        onRequest: requireOperator,
        schema: {
          tags,
          summary: 'Create a tenant and its first administrator (platform operator only)',
          body: TenantCreate,
          response: withProblems({ 201: TenantCreated }),
        },
      },
      async (request, reply) => {
        const created = await tenants.create(request.context, request.body);
        return reply.code(201).header('location', `/api/v1/tenants/${created.tenant.id}`).send(created);
      },
    );

    api.get(
      '/tenants/:tenantId',
      {
        config,
        onRequest: requireOperator,
        schema: {
          tags,
          summary: 'One tenant (platform operator only)',
          params: Type.Object({ tenantId: TenantId }),
          response: withProblems({ 200: Tenant }),
        },
      },
      async (request) => tenants.get(request.params.tenantId),
    );
  };
}

function operatorContext(request: FastifyRequest): RequestContext {
  const requestId = String(request.id);
  return { tenantId: '', principal: null, requestId, correlationId: requestId, clientIp: request.ip };
}
