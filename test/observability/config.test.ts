import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateConfig } from '../../src/config/config.ts';
import '../../src/observability/config.ts';
import '../../src/http/openapi/plugin.ts';

const rejects = (c: Record<string, unknown>, field: RegExp) =>
  assert.throws(
    () => validateConfig(c),
    (e: Error & { code?: string }) => e.code === 'INVALID_CONFIG' && field.test(e.message),
    JSON.stringify(c),
  );

describe('config › log, metrics and openapi sections', () => {
  it('accepts the documented settings', () => {
    assert.doesNotThrow(() =>
      validateConfig({
        log: { level: 'debug', requests: true, format: 'json' },
        metrics: { enabled: true, public: false, port: 9464, process: false },
        openapi: { public: true, ui: false },
      }),
    );
    assert.doesNotThrow(() => validateConfig({ openapi: false }));
  });

  it('names the field that is wrong', () => {
    rejects({ log: { level: 'loud' } }, /log\.level/);
    rejects({ log: { requests: 'yes' } }, /log\.requests/);
    rejects({ log: { colour: true } }, /log\.colour/);
    rejects({ metrics: { port: 70000 } }, /metrics\.port/);
    rejects({ metrics: { public: 1 } }, /metrics\.public/);
    rejects({ metrics: [] }, /config metrics/);
    rejects({ openapi: { public: 'yes' } }, /openapi\.public/);
    rejects({ openapi: { path: '/x' } }, /openapi\.path/);
  });
});
