// Every system under test, in the order the harness runs them. Each one is
//
//   { id, label, kind: 'taskbus' | 'peer', store: 'sqlite' | 'postgres' | 'redis',
//     unavailable(): Promise<string | null>   why it cannot run here, or null
//     reset(slot?): Promise<void>             fresh storage for one measured run
//     connect({ deliveries, slot }): Promise<Client>
//     settle?(slot?): Promise<void>           maintenance before a run on a retained store
//     unsupported?: { [workload]: reason }    workloads it cannot express
//     startHttp?(): Promise<{ url, headers, stop }>  its own HTTP server, if any }
//
// where slot is 'main' (the default, every workload's store) or 'retained' (the
// growth workload's store with a history, see pgUrl in lib/settings.mjs), and a
// Client is
//
//   { enqueue(body), enqueueMany(bodies),
//     work({ concurrency, mode: 'noop' | 'throw', onStart(body) })  starts a worker
//     starts(): number               handler calls so far
//     pending(): Promise<number>     messages neither completed nor dead
//     settled?(): number             final settlements so far, from events the
//                                    system emits after committing them
//     seedRetained(n)                n finished (completed + dead) messages
//     close() }

import { bullmq } from './bullmq.mjs';
import { graphile } from './graphile.mjs';
import { pgboss } from './pgboss.mjs';
import { taskbusPostgres, taskbusSqlite } from './taskbus.mjs';

export const systems = [taskbusSqlite, taskbusPostgres, bullmq, pgboss, graphile];

export function getSystem(id) {
  const system = systems.find((s) => s.id === id);
  if (!system) throw new Error(`unknown system '${id}'`);
  return system;
}
