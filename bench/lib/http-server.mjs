// Child process: the minimal Fastify app a user would write in front of a peer
// queue. `POST /api/noop` enqueues the request body and answers 202 with the job
// id. With the system id `bare` the route answers 202 without storing anything:
// the HTTP ceiling of the machine.
//
//   node lib/http-server.mjs <systemId>

import Fastify from 'fastify';
import { getSystem } from '../peers/index.mjs';
import { reportFatal, serveParent } from './child.mjs';

async function main() {
  const id = process.argv[2];
  const app = Fastify({ logger: false });
  let client = null;
  if (id === 'bare') {
    app.post('/api/noop', (_request, reply) => reply.code(202).send({ id: '0' }));
  } else {
    client = await getSystem(id).connect();
    app.post('/api/noop', async (request, reply) => {
      const job = await client.enqueue(request.body ?? null);
      return reply.code(202).send({ id: String(job?.id ?? job) });
    });
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address();
  const shutdown = async () => {
    await app.close();
    await client?.close();
    process.exit(0);
  };
  process.once('SIGTERM', shutdown);
  serveParent({}, { url: `http://127.0.0.1:${port}/api/noop` });
}

main().catch(reportFatal);
