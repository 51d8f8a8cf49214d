import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { SqliteDriver } from '../../src/storage/sqlite/driver.ts';
import { driverContract } from '../contract/driver.contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'taskbus-contract-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
let file = '';
// A file per test; more connections in the same test share it, as processes on one host would.
driverContract('sqlite file', async ({ fresh, ...o }) => {
  if (fresh || !file) file = join(dir, `t${n++}.db`);
  return new SqliteDriver({ filename: file, ...o });
});

driverContract(
  'sqlite :memory:',
  async ({ fresh: _fresh, ...o }) => new SqliteDriver({ filename: ':memory:', ...o }),
  {
    sharesDatabase: false,
  },
);
