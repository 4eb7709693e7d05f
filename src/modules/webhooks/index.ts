export type { DeliveryRecorder, DeliveryResult, DeliveryTuning } from './delivery.worker.js';
export {
  WebhookDispatcher,
  type WebhookDispatcherDependencies,
  type WebhookDispatcherOptions,
} from './webhook.dispatcher.js';
export { webhookRoutes } from './webhook.routes.js';
export { WebhookService, type WebhookServiceOptions } from './webhook.service.js';
export { resealWebhookSecrets } from './webhook-secret.sealing.js';
