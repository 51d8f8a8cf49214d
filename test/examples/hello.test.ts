import assert from 'node:assert/strict';
import { test } from 'node:test';
import hello from '../../examples/tasks/hello.mjs';

test('hello › greets the name in the body', async () => {
  assert.deepEqual(await hello({ name: 'Ada' }), { hello: 'Ada' });
});

test('hello › greets the world when the body is empty', async () => {
  assert.deepEqual(await hello(null), { hello: 'world' });
});
