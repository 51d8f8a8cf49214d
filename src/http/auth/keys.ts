import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../clock.ts';
import { newId } from '../../id.ts';
import type { ApiKeyRecord, StorageDriver } from '../../storage/driver.ts';

/** Who a presented key turned out to be. */
export type Principal =
  | { kind: 'master' }
  | { kind: 'host'; keyId: string }
  | { kind: 'function'; keyId: string; task: string };

const MASTER_SETTING = 'master_key_sha256';
/** A key lookup result is reused this long; a revoke elsewhere takes effect within it. */
const CACHE_MS = 5_000;

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function generateKey(): string {
  return `tb_${randomBytes(24).toString('base64url')}`;
}

/**
 * Keys as in Azure Functions: a master key (TASKBUS_MASTER_KEY, or generated once and stored
 * hashed), host keys and function keys, all stored as SHA-256 hashes. The master key is
 * compared in constant time; other keys are found by their hash, which leaks nothing about the
 * key through timing.
 */
export class KeyStore {
  private masterHash: Buffer | null = null;
  private cache = new Map<string, { p: Principal | null; at: number }>();
  private recent = new Map<string, { p: Principal; at: number }>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly clock: Clock,
  ) {}

  /**
   * Loads or creates the master key. Returns the generated key when this call created it (to be
   * printed once), else null.
   */
  async init(envMasterKey: string | undefined): Promise<{ generated: string | null }> {
    const env = envMasterKey?.trim();
    if (env) {
      this.masterHash = Buffer.from(hashKey(env), 'hex');
      return { generated: null };
    }
    const candidate = generateKey();
    const stored = await this.driver.initSetting({ key: MASTER_SETTING, value: hashKey(candidate) });
    this.masterHash = Buffer.from(stored, 'hex');
    return { generated: stored === hashKey(candidate) ? candidate : null };
  }

  async authenticate(key: string): Promise<Principal | null> {
    const now = this.clock.now();
    // Keys that authenticated recently skip the hash (a few µs, an eighth of an enqueue's
    // route). Only valid keys are kept here, and only briefly: a wrong guess always takes the
    // hashed, constant-time path below, and a Map lookup of a wrong key reveals nothing of
    // the right one.
    const known = this.recent.get(key);
    if (known && now - known.at < CACHE_MS) return known.p;
    const p = await this.authenticateHashed(key, now);
    if (p) {
      if (this.recent.size > 1000) this.recent.clear();
      this.recent.set(key, { p, at: now });
    }
    return p;
  }

  private async authenticateHashed(key: string, now: number): Promise<Principal | null> {
    const hash = hashKey(key);
    if (this.masterHash && timingSafeEqual(Buffer.from(hash, 'hex'), this.masterHash))
      return { kind: 'master' };
    const hit = this.cache.get(hash);
    if (hit && now - hit.at < CACHE_MS) return hit.p;
    const rec = await this.driver.findKeyByHash({ hash });
    const p: Principal | null = !rec
      ? null
      : rec.scope === 'host'
        ? { kind: 'host', keyId: rec.id }
        : { kind: 'function', keyId: rec.id, task: rec.task! };
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { p, at: now });
    return p;
  }

  /** Creates a key; the plain key is returned once and never stored. */
  async create(o: { label: string; scope: 'host' | 'function'; task?: string | null }): Promise<{
    key: string;
    record: ApiKeyRecord;
  }> {
    const key = generateKey();
    const record: ApiKeyRecord = {
      id: newId(this.clock.now()),
      label: o.label,
      scope: o.scope,
      task: o.scope === 'function' ? (o.task ?? null) : null,
      hash: hashKey(key),
      createdAt: this.clock.now(),
      revokedAt: null,
    };
    await this.driver.createKey({ key: record });
    return { key, record };
  }

  list(): Promise<ApiKeyRecord[]> {
    return this.driver.listKeys();
  }

  async revoke(id: string): Promise<boolean> {
    const ok = await this.driver.revokeKey({ id, now: this.clock.now() });
    this.cache.clear();
    this.recent.clear();
    return ok;
  }
}
