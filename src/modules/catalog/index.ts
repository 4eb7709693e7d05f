export { catalogRoutes } from './catalog.routes.js';
export type { Product, Store } from './catalog.schemas.js';
export { ProductId, StoreId } from './catalog.schemas.js';
export { type ProductDeletionGuard, ProductService } from './product.service.js';
export { StoreService } from './store.service.js';
