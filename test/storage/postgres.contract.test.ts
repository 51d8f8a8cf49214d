import { describe } from 'node:test';
import { PostgresDriver } from '../../src/storage/postgres/driver.ts';
import { driverContract } from '../contract/driver.contract.ts';
import { POSTGRES_URL, postgresPreflight, useSchemas } from '../support/postgres.ts';

// A fresh schema per test; more connections in the same test share it, as processes would.
describe('postgres', { skip: await postgresPreflight() }, () => {
  const schemas = useSchemas();
  let schema = '';
  driverContract('postgres', async ({ fresh, ...o }) => {
    if (fresh || !schema) schema = schemas.create();
    return new PostgresDriver({ connectionString: POSTGRES_URL, schema, poolSize: 4, ...o });
  });
});
