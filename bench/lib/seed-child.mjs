// Child process: writes the growth workload's retained history through one system's
// own client, then exits. The process that measures afterwards is then like a worker
// started on a store that has a history, not one whose heap and caches are full of
// the million tasks it has just written.
//
//   node lib/seed-child.mjs <systemId> <count> <slot>

import { getSystem } from '../peers/index.mjs';
import { reportFatal, serveParent } from './child.mjs';

async function main() {
  const [id, count, slot] = process.argv.slice(2);
  const seeder = await getSystem(id).connect({ slot });
  await seeder.seedRetained(Number(count));
  await seeder.close();
  serveParent({});
}

main().catch(reportFatal);
