import { AppError, defineError } from '../../platform/http/problem.js';

export const WebhookErrors = {
  webhookNotFound: defineError('WEBHOOK_NOT_FOUND', 404, 'Webhook endpoint not found'),
  deliveryNotFound: defineError('WEBHOOK_DELIVERY_NOT_FOUND', 404, 'Webhook delivery not found'),
  urlInvalid: defineError('WEBHOOK_URL_INVALID', 422, 'The webhook URL is not acceptable'),
  urlForbidden: defineError(
    'WEBHOOK_URL_FORBIDDEN',
    422,
    'The webhook URL leads to a private or reserved address',
  ),
  urlUnresolvable: defineError('WEBHOOK_URL_UNRESOLVABLE', 422, 'The webhook URL host does not resolve'),
  endpointsLimitReached: defineError(
    'WEBHOOK_ENDPOINTS_LIMIT_REACHED',
    409,
    'The tenant has as many webhook endpoints as allowed',
  ),
  replayRangeInvalid: defineError(
    'WEBHOOK_REPLAY_RANGE_INVALID',
    422,
    'Name where the replay starts: from_sequence or from_time',
  ),
} as const;

export function webhookNotFound(webhookId: string): AppError {
  return new AppError(WebhookErrors.webhookNotFound, `Webhook endpoint ${webhookId} does not exist`, {
    webhook_id: webhookId,
  });
}

export function deliveryNotFound(webhookId: string, deliveryId: string): AppError {
  return new AppError(
    WebhookErrors.deliveryNotFound,
    `Delivery ${deliveryId} of webhook endpoint ${webhookId} does not exist`,
    { webhook_id: webhookId, delivery_id: deliveryId },
  );
}
