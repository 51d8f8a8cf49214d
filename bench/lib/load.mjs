// Child process: autocannon against one URL, so the load generator does not share
// an event loop (or a core's time slice accounting) with the server it measures.
//
//   node lib/load.mjs '<json: { url, connections, seconds, headers }>'
//
// Prints one JSON line: successful (2xx) requests per second and latency.

import autocannon from 'autocannon';

const { url, connections, seconds, headers } = JSON.parse(process.argv[2]);

const result = await autocannon({
  url,
  method: 'POST',
  connections,
  duration: seconds,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify({ hello: 'world' }),
});

process.stdout.write(
  `${JSON.stringify({
    throughput: result['2xx'] / result.duration,
    p50: result.latency.p50,
    // autocannon's histogram gives p90 and p97.5 but not p95.
    p95: null,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  })}\n`,
);
