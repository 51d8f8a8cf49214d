import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { Ajv } from 'ajv';

const dir = join(import.meta.dirname, '../../examples/tasks');
const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
// SPEC §2: the settings a task object may carry besides its handler.
const SETTINGS = [
  'maxDeliveryCount',
  'backoff',
  'lockDurationMs',
  'timeoutMs',
  'concurrency',
  'ttlMs',
  'schema',
  'auth',
];

// A body each schema must accept and one it must refuse, as the HTTP trigger would.
const bodies: Record<string, { valid: unknown; invalid: unknown }> = {
  'resize-image': {
    valid: { imageBase64: 'iVBORw0KGgo=', width: 100 },
    invalid: { imageBase64: 'x', width: 0 },
  },
  'convert-file': { valid: { from: 'csv', content: 'a,b\n1,2' }, invalid: { from: 'xml', content: '<a/>' } },
  'invoice-pdf': {
    valid: { number: 'INV-1', customer: 'Ada', items: [{ description: 'Work', quantity: 1, unitPrice: 10 }] },
    invalid: { number: 'INV-1', customer: 'Ada', items: [] },
  },
  'send-email': {
    valid: { to: 'ada@example.com', subject: 'Hi', text: 'x' },
    invalid: { to: 'not an address', subject: 'Hi', text: 'x' },
  },
};

const files = (await readdir(dir)).filter((f) => ['.ts', '.js', '.mjs'].includes(extname(f)));

test('task files › are named as task names and export a handler', async () => {
  assert.deepEqual(files.sort(), [
    'convert-file.ts',
    'hello.mjs',
    'invoice-pdf.ts',
    'resize-image.ts',
    'send-email.ts',
  ]);
  for (const file of files) {
    assert.match(basename(file, extname(file)), NAME, file);
    const task = (await import(pathToFileURL(join(dir, file)).href)).default;
    if (typeof task === 'function') continue;
    assert.equal(typeof task.handler, 'function', file);
    for (const key of Object.keys(task))
      assert.ok(key === 'handler' || SETTINGS.includes(key), `${file}: unknown setting ${key}`);
  }
});

test('task files › each schema compiles strictly and checks its body', async () => {
  const ajv = new Ajv({ strict: true, allErrors: true });
  for (const [name, { valid, invalid }] of Object.entries(bodies)) {
    const { schema } = (await import(pathToFileURL(join(dir, `${name}.ts`)).href)).default;
    const validate = ajv.compile(schema);
    assert.ok(validate(valid), `${name} refused a valid body: ${ajv.errorsText(validate.errors)}`);
    assert.equal(validate(invalid), false, `${name} accepted an invalid body`);
  }
});
