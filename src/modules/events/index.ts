export { EventStreamHub } from './event-stream.hub.js';
export { eventsRoutes } from './events.routes.js';
export { EventsService } from './events.service.js';
