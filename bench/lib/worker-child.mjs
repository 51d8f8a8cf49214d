// Child process: one system's worker, for the cross-process latency workload.
// Each handler start records now − body.t (both from the machine-wide monotonic
// clock) and the parent collects the samples when it has sent everything.
//
//   node lib/worker-child.mjs <systemId> <concurrency>

import { getSystem } from '../peers/index.mjs';
import { reportFatal, serveParent } from './child.mjs';
import { nowMs } from './util.mjs';

async function main() {
  const [id, concurrency] = process.argv.slice(2);
  const samples = [];
  const client = await getSystem(id).connect();
  await client.work({
    concurrency: Number(concurrency),
    mode: 'noop',
    onStart: (body) => {
      if (typeof body?.t === 'number') samples.push(nowMs() - body.t);
    },
  });
  process.once('SIGTERM', async () => {
    await client.close().catch(() => {});
    process.exit(0);
  });
  serveParent({
    count: () => client.starts(),
    // Hands over the samples so far and starts a new set (warm-up is discarded).
    take: () => samples.splice(0, samples.length),
  });
}

main().catch(reportFatal);
