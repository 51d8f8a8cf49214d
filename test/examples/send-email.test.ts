import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import task from '../../examples/tasks/send-email.ts';
import { DeadLettered, fakeContext } from './context.ts';

type Received = { from: string; to: string[]; raw: string };
const received: Received[] = [];
const previousUrl = process.env.SMTP_URL;

// A real SMTP server on a random local port, without TLS so the client does not try STARTTLS
// against a self-signed certificate.
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  onRcptTo(address, _session, callback) {
    if (address.address.startsWith('nobody@'))
      return callback(Object.assign(new Error('No such user'), { responseCode: 550 }));
    if (address.address.startsWith('busy@'))
      return callback(Object.assign(new Error('Try again later'), { responseCode: 451 }));
    callback();
  },
  onData(stream, session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      received.push({
        from,
        to: session.envelope.rcptTo.map((r) => r.address),
        raw: Buffer.concat(chunks).toString(),
      });
      callback();
    });
  },
});

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.env.SMTP_URL = `smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
});

after(async () => {
  if (previousUrl === undefined) delete process.env.SMTP_URL;
  else process.env.SMTP_URL = previousUrl;
  await new Promise<void>((resolve) => server.close(resolve));
});

test('send-email › delivers the message to the SMTP server', async () => {
  const ctx = fakeContext('send-email');
  const result = await task.handler(
    { to: 'ada@example.com', subject: 'Your report is ready', text: 'See attached.' },
    ctx,
  );
  assert.deepEqual(result, {
    messageId: `<${ctx.id}@taskbus>`,
    accepted: ['ada@example.com'],
    rejected: [],
    transport: 'smtp',
  });
  assert.equal(received.length, 1);
  const [message] = received;
  assert.deepEqual(message.to, ['ada@example.com']);
  assert.equal(message.from, 'taskbus@localhost');
  assert.match(message.raw, /^Subject: Your report is ready$/m);
  assert.match(message.raw, /^To: ada@example\.com$/m);
  assert.match(message.raw, new RegExp(`^Message-ID: <${ctx.id}@taskbus>$`, 'm'));
  assert.match(message.raw, /See attached\./);
});

test('send-email › dead-letters at once when the server rejects the recipient', async () => {
  const sending = task.handler(
    { to: 'nobody@example.com', subject: 'Hi', text: 'x' },
    fakeContext('send-email'),
  );
  await assert.rejects(
    sending,
    (err) =>
      err instanceof DeadLettered &&
      err.reason === 'SmtpRejected' &&
      /No such user/.test(err.description ?? ''),
  );
});

test('send-email › throws for a retry when the server defers the recipient', async () => {
  const sending = task.handler(
    { to: 'busy@example.com', subject: 'Hi', text: 'x' },
    fakeContext('send-email'),
  );
  await assert.rejects(
    sending,
    (err) => !(err instanceof DeadLettered) && (err as { responseCode?: number }).responseCode === 451,
  );
});

test('send-email › only composes the message when SMTP_URL is not set', async () => {
  const url = process.env.SMTP_URL;
  delete process.env.SMTP_URL;
  try {
    const before = received.length;
    const result = await task.handler(
      { to: 'ada@example.com', subject: 'Hi', text: 'x' },
      fakeContext('send-email'),
    );
    assert.equal(result.transport, 'json');
    assert.deepEqual(result.accepted, ['ada@example.com']);
    assert.match(result.note ?? '', /SMTP_URL is not set/);
    assert.equal(received.length, before);
  } finally {
    process.env.SMTP_URL = url;
  }
});
