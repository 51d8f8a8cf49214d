import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERRORS } from '../../src/errors.ts';

describe('error registry', () => {
  it('docs › every error code is documented in docs/errors.md with its status', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    for (const [code, d] of Object.entries(ERRORS)) {
      assert.match(
        doc,
        new RegExp(`\\| \`${code}\` \\| ${d.status} \\|`),
        `${code} is missing from docs/errors.md`,
      );
    }
  });

  it('registry › statuses are HTTP error statuses and titles are unique', () => {
    const titles = new Set<string>();
    for (const d of Object.values(ERRORS)) {
      assert.ok(d.status >= 400 && d.status < 600);
      assert.ok(!titles.has(d.title), d.title);
      titles.add(d.title);
    }
  });
});
