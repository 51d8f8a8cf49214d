// biome-ignore-all lint/suspicious/noThenProperty: `then` is the rule field the config defines, never a function.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { createTaskbus } from '../../src/taskbus.ts';
import { runCli } from '../support/process.ts';
import { waitFor } from '../support/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'taskbus-dl-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const db = join(dir, 'dl.db');
const tasks = join(dir, 'tasks');
mkdirSync(tasks);
writeFileSync(
  join(tasks, 'orders.mjs'),
  `export default { maxDeliveryCount: 1, handler: async (b) => { throw new Error(b.error); } };`,
);
writeFileSync(join(tasks, 'remedy.mjs'), 'export default async () => "fixed";');
// The article's scenario as a TypeScript config in the working directory of an ESM project,
// found without --config.
writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
writeFileSync(
  join(dir, 'taskbus.config.ts'),
  `const team: string[] = ['team@example.com'];
export default {
  smtp: { url: 'smtp://127.0.0.1:2525', from: 'Taskbus <taskbus@example.com>' },
  deadLetters: {
    rules: [
      { name: 'remedy-certain', when: { body: { taskType: 'certainTaskType' } }, then: { invoke: 'remedy' }, mode: 'auto-complete' },
      { name: 'tell-the-team', then: { email: { to: team } } },
    ],
  },
};
`,
);

const cli = (args: string[]) => runCli([...args, '--db', db], { cwd: dir });
const lines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe('taskbus dlq (real binary)', () => {
  const ids: Record<string, string> = {};
  before(async () => {
    const tb = await createTaskbus({ tasks, db, logger: pino({ level: 'silent' }) });
    await tb.startWorkers();
    for (const [key, body] of Object.entries({
      certain: { taskType: 'certainTaskType', error: 'connection refused' },
      other: { taskType: 'other', error: 'connection refused' },
      third: { taskType: 'other', error: 'quota exceeded' },
    })) {
      ids[key] = (await tb.enqueue('orders', body)).id;
    }
    await waitFor(async () => (await tb.counts(['orders']))[0].deadlettered === 3, 'dead letters');
    await tb.close();
  });

  it('rules test › shows which rule would match each message, changing nothing', () => {
    const before = cli(['dlq', 'export']);
    const r = cli(['dlq', 'rules', 'test']);
    assert.equal(r.code, 0, r.stderr);
    const doc = r.json();
    assert.equal(doc.config, join(dir, 'taskbus.config.ts'));
    assert.deepEqual(doc.rules, ['remedy-certain', 'tell-the-team']);
    const rule = Object.fromEntries(doc.messages.map((m: { id: string; rule: string }) => [m.id, m.rule]));
    assert.deepEqual(rule, {
      [ids.certain]: 'remedy-certain',
      [ids.other]: 'tell-the-team',
      [ids.third]: 'tell-the-team',
    });
    assert.equal(cli(['dlq', 'export']).stdout, before.stdout, 'the DLQ is unchanged');
  });

  it('export › JSON lines, filtered by error text', () => {
    const r = cli(['dlq', 'export', 'orders', '--error', 'refused$']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      lines(r.stdout)
        .map((d) => d.id)
        .sort(),
      [ids.certain, ids.other].sort(),
    );
    assert.equal(lines(r.stdout)[0].deadLetterReason, 'MaxDeliveryCountExceeded');
  });

  it('resubmit by body match › moves exactly the matching message; history names the user and filter', () => {
    const r = cli(['dlq', 'resubmit', 'orders', '--body-match', '{"taskType":"certainTaskType"}']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json(), { resubmitted: 1, ids: [ids.certain], notFound: [], dryRun: false });
    const doc = cli(['status', ids.certain]).json();
    assert.equal(doc.status, 'queued');
    const ev = doc.history.find((h: { type: string }) => h.type === 'resubmitted');
    assert.equal(ev.by, 'cli');
    assert.equal(ev.user, userInfo().username);
    assert.deepEqual(ev.filter, { task: 'orders', body: { taskType: 'certainTaskType' } });
    assert.equal(cli(['status', ids.other]).json().status, 'deadlettered');
  });

  it('purge by filter › needs --yes, then deletes exactly the matching message', () => {
    const no = cli(['dlq', 'purge', '--error', 'quota']);
    assert.notEqual(no.code, 0);
    assert.match(no.stderr, /--yes/);
    const dry = cli(['dlq', 'purge', '--error', 'quota', '--dry-run']);
    assert.deepEqual(dry.json(), { wouldPurge: 1, ids: [ids.third], notFound: [] });
    const r = cli(['dlq', 'purge', '--error', 'quota', '--yes']);
    assert.deepEqual(r.json(), { purged: 1 });
    assert.equal(cli(['status', ids.third]).code, 3);
    assert.equal(cli(['status', ids.other]).json().status, 'deadlettered');
  });

  it('selection › ids and a filter together are refused', () => {
    const r = cli(['dlq', 'resubmit', ids.other, '--reason', 'x']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not several/);
  });
});

describe('invalid dead-letter config stops the start (real binary)', () => {
  const start = (name: string, config: unknown) => {
    const file = join(dir, name);
    writeFileSync(file, JSON.stringify(config));
    return runCli(
      ['start', '--tasks', tasks, '--db', join(dir, 'start.db'), '--port', '0', '--config', file],
      {
        cwd: dir,
      },
    );
  };

  it('an unknown action names the field', () => {
    const r = start('unknown-action.json', { deadLetters: { rules: [{ then: { sms: '+15550100' } }] } });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /unknown-action\.json: config deadLetters\.rules\[0\]\.then\[0\]: unknown action 'sms'/,
    );
  });

  it('a bad regular expression names the field', () => {
    const r = start('bad-regex.json', {
      deadLetters: { rules: [{ when: { error: 'timed out (' }, then: 'discard' }] },
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /config deadLetters\.rules\[0\]\.when\.error: is not a valid regular expression/);
  });

  it('invoking a task that does not exist names the field', () => {
    const r = start('no-task.json', { deadLetters: { rules: [{ then: { invoke: 'nope' } }] } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /config deadLetters\.rules\[0\]\.then\[0\]\.invoke: no task named 'nope'/);
  });
});
