import { newId } from '../../src/id.ts';
import { jsonBody } from '../../src/storage/common.ts';
import type { NewMessage } from '../../src/storage/driver.ts';

/** A fixed test epoch: drivers take `now` as given, so tests never read the wall clock. */
export const T0 = 1_800_000_000_000;

/** A message for `driver.enqueue`: JSON body, visible at `now`, no TTL, key or trace. */
export function newMessage(
  name: string,
  body: unknown = 1,
  over: Partial<NewMessage> = {},
  now = T0,
): NewMessage {
  return {
    id: newId(now),
    name,
    body: jsonBody(body),
    visibleAt: now,
    expiresAt: null,
    idempotencyKey: null,
    traceparent: null,
    ...over,
  };
}
