/** Every database the tests create starts with this, so a later run can clean up a crashed one. */
export const TEST_DATABASE_PREFIX = 'omnistock_test_';

export function postgresAdminUrl(): string {
  return process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

export function withDatabaseName(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
