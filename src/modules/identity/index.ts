export { type BootstrapResult, IdentityService } from './identity.service.js';
