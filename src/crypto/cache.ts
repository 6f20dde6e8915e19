import type { GetDecipher } from '@aws-crypto/material-management-node';
import { LRUCache } from 'lru-cache';

/**
 * Briefly caches unwrapped, derived content keys (as the SDK's decipher factory) so a
 * seeking player opening the same recording per Range request does not call the key
 * provider each time. Entries are keyed by a hash of the whole authenticated header and
 * a scope naming the wrapping key (see `OpenOptions.cacheScope`); a hit therefore means
 * "these exact header bytes already authenticated under this key".
 * Evicted keys are not zeroed: a stream opened from one may still be reading; the key
 * goes with the last reference.
 */
export class DataKeyCache {
  // Promises, so concurrent opens of one recording share a single key-provider call.
  private readonly lru: LRUCache<string, Promise<GetDecipher>>;

  constructor(opts: { ttlMs: number; max?: number }) {
    if (!(opts.ttlMs > 0)) throw new RangeError('ttlMs must be positive');
    this.lru = new LRUCache({ max: opts.max ?? 1000, ttl: opts.ttlMs });
  }

  clear(): void {
    this.lru.clear();
  }

  get size(): number {
    return this.lru.size;
  }

  /** @internal Returns the cached key for `id`, or runs `load` once and caches its success. */
  getOrLoad(id: string, load: () => Promise<GetDecipher>): Promise<GetDecipher> {
    const hit = this.lru.get(id);
    if (hit) return hit;
    const loading = load();
    this.lru.set(id, loading);
    // Failures are not cached: a transient provider error must not stick for the TTL.
    loading.catch(() => {
      if (this.lru.peek(id) === loading) this.lru.delete(id);
    });
    return loading;
  }
}
