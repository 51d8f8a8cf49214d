// Child processes with a small IPC protocol: the child sends { type: 'ready', ... }
// once it is serving, the parent may send requests { type, id } and the child
// answers { type: 'reply', id, value }. Every wait is bounded; a child that does
// not answer in time is killed and the step fails with its stderr.

import { fork, spawn } from 'node:child_process';

export function forkChild(modulePath, args, { env, timeoutMs = 60_000, execArgv = [] } = {}) {
  const child = fork(modulePath, args, {
    env: { ...process.env, ...env },
    execArgv,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  return wrap(child, timeoutMs);
}

// For programs that are not ours (the Taskbus CLI): readiness is a condition the
// parent checks, e.g. an HTTP probe, rather than an IPC message.
export function spawnProgram(command, args, { env, cwd } = {}) {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d) => {
    output = (output + d).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return { child, output: () => output, stop: () => stop(child) };
}

function wrap(child, timeoutMs) {
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  let nextId = 0;
  const pending = new Map();
  let readyResolve;
  let readyReject;
  const ready = new Promise((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  child.on('message', (msg) => {
    if (msg?.type === 'ready') readyResolve(msg);
    else if (msg?.type === 'reply') pending.get(msg.id)?.resolve(msg.value);
    else if (msg?.type === 'error') {
      const err = new Error(msg.message);
      readyReject(err);
      for (const p of pending.values()) p.reject(err);
    }
  });
  child.on('exit', (code, signal) => {
    const err = new Error(`child exited (${code ?? signal}): ${stderr.trim().slice(-1500)}`);
    readyReject(err);
    for (const p of pending.values()) p.reject(err);
  });
  const bounded = (promise, what) =>
    Promise.race([
      promise,
      new Promise((_, reject) => {
        const t = setTimeout(() => reject(new Error(`${what} timed out; stderr: ${stderr.slice(-1500)}`)), timeoutMs);
        t.unref();
      }),
    ]);
  return {
    child,
    ready: () => bounded(ready, 'child start'),
    request(type, payload = {}) {
      const id = ++nextId;
      const answer = new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
      child.send({ type, id, ...payload });
      return bounded(answer, `child request ${type}`).finally(() => pending.delete(id));
    },
    stop: () => stop(child),
  };
}

// SIGTERM, then SIGKILL if the child is still there after 5 s.
export function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

// Child side: answer requests with the given handlers and report readiness.
export function serveParent(handlers, readyInfo = {}) {
  process.on('message', async (msg) => {
    const handler = handlers[msg?.type];
    if (!handler) return;
    try {
      process.send({ type: 'reply', id: msg.id, value: await handler(msg) });
    } catch (err) {
      process.send({ type: 'error', message: err.stack ?? String(err) });
    }
  });
  process.send({ type: 'ready', ...readyInfo });
}

export function reportFatal(err) {
  if (process.send) process.send({ type: 'error', message: err?.stack ?? String(err) });
  else console.error(err);
  process.exit(1);
}
