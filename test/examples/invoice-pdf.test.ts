import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import task from '../../examples/tasks/invoice-pdf.ts';
import { fakeContext, useOutputDir } from './context.ts';

let out: Awaited<ReturnType<typeof useOutputDir>>;
before(async () => {
  out = await useOutputDir();
});
after(() => out.cleanup());

const body = {
  number: '2024/017',
  customer: 'Ada Lovelace\n12 St James Square\nLondon',
  items: [
    { description: 'Analytical engine consulting', quantity: 2, unitPrice: 19.99 },
    { description: 'Punched cards', quantity: 1, unitPrice: 0.1 },
    { description: 'Postage', quantity: 1, unitPrice: 0.2 },
  ],
};

test('invoice-pdf › writes a PDF invoice and returns its total', async () => {
  const result = await task.handler(body, fakeContext('invoice-pdf'));
  assert.equal(result.path, join(out.dir, 'invoice-2024-017.pdf'));
  const pdf = await readFile(result.path);
  assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
  assert.match(pdf.subarray(-6).toString('latin1'), /%%EOF\s*$/);
  assert.equal(pdf.length, result.bytes);
  assert.equal(result.total, 40.28);
});

test('invoice-pdf › sums in cents, so 0.1 + 0.2 totals 0.3', async () => {
  const small = { ...body, number: 'S-1', items: body.items.slice(1) };
  assert.equal((await task.handler(small, fakeContext('invoice-pdf'))).total, 0.3);
});

test('invoice-pdf › rounds to the minor unit of the currency', async () => {
  const yen = {
    number: 'JP-1',
    customer: 'Kyoto Office',
    currency: 'JPY',
    items: [{ description: 'Tea', quantity: 3, unitPrice: 333.3 }],
  };
  assert.equal((await task.handler(yen, fakeContext('invoice-pdf'))).total, 1000);
});

test('invoice-pdf › a retry replaces the file and leaves no partial file', async () => {
  const first = await task.handler(body, fakeContext('invoice-pdf'));
  const second = await task.handler(body, fakeContext('invoice-pdf'));
  assert.equal(second.path, first.path);
  assert.deepEqual(
    (await readdir(out.dir)).filter((f) => f.startsWith('invoice-2024')),
    ['invoice-2024-017.pdf'],
  );
});

test('invoice-pdf › an aborted attempt fails and leaves no file behind', async () => {
  const ctx = { ...fakeContext('invoice-pdf'), signal: AbortSignal.abort() };
  await assert.rejects(task.handler({ ...body, number: 'ABORTED-1' }, ctx), { name: 'AbortError' });
  assert.deepEqual(
    (await readdir(out.dir)).filter((f) => f.includes('ABORTED')),
    [],
  );
});
