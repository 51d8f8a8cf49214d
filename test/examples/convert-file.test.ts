import assert from 'node:assert/strict';
import { test } from 'node:test';
import task from '../../examples/tasks/convert-file.ts';

test('convert-file › converts CSV to JSON records keyed by the header row', async () => {
  const content = '\uFEFFname,city,note\nAda,London,"likes, commas"\n\nAlan, Wilmslow ,""\n';
  assert.deepEqual(await task.handler({ from: 'csv', content }), {
    to: 'json',
    output: [
      { name: 'Ada', city: 'London', note: 'likes, commas' },
      { name: 'Alan', city: 'Wilmslow', note: '' },
    ],
  });
});

test('convert-file › converts Markdown to HTML', async () => {
  const result = await task.handler({
    from: 'markdown',
    content: '# Title\n\nSome *emphasis* and a [link](https://example.com).',
  });
  assert.equal(result.to, 'html');
  assert.equal(
    result.output,
    '<h1>Title</h1>\n<p>Some <em>emphasis</em> and a <a href="https://example.com">link</a>.</p>\n',
  );
});

test('convert-file › rejects a CSV row with the wrong number of fields', async () => {
  await assert.rejects(
    task.handler({ from: 'csv', content: 'a,b\n1,2\n3\n' }),
    /^Error: convert-file: invalid CSV: .*line 3/,
  );
});

test('convert-file › rejects an unknown source format', async () => {
  await assert.rejects(
    task.handler({ from: 'docx' as 'csv', content: 'x' }),
    /body\.from must be 'csv' or 'markdown', got "docx"/,
  );
});
