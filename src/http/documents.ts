import type { LoadedTask } from '../tasks/define.ts';
import type { MessageRecord, QueueCounts, StoredBody } from '../types.ts';

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** A stored body as the API shows it: JSON as is, bytes as base64 with their content type. */
export function bodyDocument(body: StoredBody): unknown {
  if (body.kind === 'json') return JSON.parse(body.json);
  return { contentType: body.contentType, size: body.bytes.length, base64: body.bytes.toString('base64') };
}

export function statusUrl(name: string, id: string): string {
  return `/api/${encodeURIComponent(name)}/tasks/${id}`;
}

/** The 202 (and idempotent 200) answer of POST /api/{name}. */
export function acceptedDocument(m: { id: string; name: string; status: string }) {
  return { id: m.id, name: m.name, status: m.status, statusUrl: statusUrl(m.name, m.id) };
}

/** The status document of GET /api/{name}/tasks/{id} (SPEC §4). */
export function taskDocument(m: MessageRecord) {
  return {
    id: m.id,
    name: m.name,
    status: m.state,
    body: bodyDocument(m.body),
    result: m.result ?? null,
    progress: m.progress ?? null,
    deliveryCount: m.deliveryCount,
    enqueuedAt: iso(m.enqueuedAt),
    scheduledFor: iso(m.visibleAt),
    nextAttemptAt: m.state === 'scheduled' ? iso(m.visibleAt) : null,
    expiresAt: iso(m.expiresAt),
    completedAt: iso(m.completedAt),
    deadLetterReason: m.deadLetterReason,
    deadLetterErrorDescription: m.deadLetterErrorDescription,
    deadLetteredAt: iso(m.deadLetteredAt),
    lockedBy: m.lockedBy,
    attempts: m.attempts.map((a) => ({
      number: a.number,
      startedAt: iso(a.startedAt),
      endedAt: iso(a.endedAt),
      durationMs: a.endedAt - a.startedAt,
      worker: a.worker,
      error: a.error ? { name: a.error.name, message: a.error.message, stack: a.error.stack ?? null } : null,
    })),
    history: m.history.map((h) => ({ at: iso(h.at), type: h.type, ...h.data })),
  };
}

/** One task type in GET /admin/tasks: settings and counts per state. */
export function taskTypeDocument(t: LoadedTask, c: QueueCounts | undefined, now: number) {
  const { schema, ...settings } = t.settings;
  return {
    name: t.name,
    description: t.description,
    settings: { ...settings, schema },
    counts: {
      scheduled: c?.scheduled ?? 0,
      queued: c?.queued ?? 0,
      running: c?.running ?? 0,
      completed: c?.completed ?? 0,
      deadlettered: c?.deadlettered ?? 0,
    },
    oldestQueuedAgeMs: c?.oldestQueuedAt != null ? Math.max(0, now - c.oldestQueuedAt) : null,
  };
}
