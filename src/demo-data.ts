import type { ProductService, StoreService } from './modules/catalog/index.js';
import type { StockService } from './modules/inventory/index.js';
import type { RequestContext } from './platform/http/request-context.js';

/** Three stores and a dozen products, stocked, so a fresh `npm start` has something to show. */
const DEMO_STORES = [
  { id: 'MAD-001', name: 'Madrid Centro', kind: 'store' },
  { id: 'BCN-001', name: 'Barcelona Plaza', kind: 'store' },
  { id: 'VAL-001', name: 'Valencia Norte', kind: 'store' },
] as const;

const DEMO_PRODUCTS = [
  { sku: 'TSHIRT-BASIC-M', name: 'Basic T-shirt, M', category: 'apparel', price_minor: 1299 },
  { sku: 'TSHIRT-BASIC-L', name: 'Basic T-shirt, L', category: 'apparel', price_minor: 1299 },
  { sku: 'JEANS-SLIM-32', name: 'Slim jeans, 32', category: 'apparel', price_minor: 4995 },
  { sku: 'SNEAKER-RUN-42', name: 'Running sneakers, 42', category: 'footwear', price_minor: 8990 },
  { sku: 'SNEAKER-RUN-43', name: 'Running sneakers, 43', category: 'footwear', price_minor: 8990 },
  { sku: 'BOOT-LEATHER-41', name: 'Leather boots, 41', category: 'footwear', price_minor: 12900 },
  { sku: 'BAG-TOTE-BLK', name: 'Tote bag, black', category: 'accessories', price_minor: 2450 },
  { sku: 'CAP-LOGO-NVY', name: 'Logo cap, navy', category: 'accessories', price_minor: 1800 },
  { sku: 'WATCH-STEEL-01', name: 'Steel watch', category: 'accessories', price_minor: 15900 },
  { sku: 'HEADPH-BT-200', name: 'Bluetooth headphones', category: 'electronics', price_minor: 7999 },
  { sku: 'CHARGER-USBC-65', name: 'USB-C charger, 65 W', category: 'electronics', price_minor: 3499 },
  { sku: 'BOTTLE-STEEL-750', name: 'Steel bottle, 750 ml', category: 'home', price_minor: 1995 },
] as const;

export async function seedDemoData(
  context: RequestContext,
  services: { stores: StoreService; products: ProductService; stock: StockService },
): Promise<void> {
  for (const store of DEMO_STORES) await services.stores.create(context, store);
  for (const [productIndex, product] of DEMO_PRODUCTS.entries()) {
    const created = await services.products.create(context, { ...product, currency: 'EUR', description: '' });
    for (const [storeIndex, store] of DEMO_STORES.entries()) {
      // Deterministic, uneven quantities: some levels start below their threshold.
      const quantity = ((productIndex + 3) * (storeIndex + 5) * 7) % 60;
      await services.stock.initialise(context, {
        product_id: created.id,
        store_id: store.id,
        quantity,
        low_stock_threshold: 5,
      });
    }
  }
}
