import { deviceError } from '../diffusion/device.js';
import { budgetRefusal, MEMORY_BUDGET_SETTING } from '../diffusion/memory-estimate.js';
import { formatBytes } from '../util/format-bytes.js';

/** Anything the cache can hold: a loaded model whose memory release() gives back. */
export interface Releasable {
  release(): Promise<void> | void;
}

/** Which model a job needs and what it costs resident (its weights' size on disk). */
export interface ModelSpec {
  /** Identity in the cache: the model's folder and the fingerprint of its files (model-fingerprint.ts). */
  key: string;
  /** The model's folder: an entry of the same folder under another key holds files since changed on disk. */
  folder: string;
  name: string;
  bytes: number;
}

export interface Resident {
  name: string;
  bytes: number;
}

/** A request that cannot fit in the budget, even after evicting every model not in use. */
export class ModelCacheFullError extends Error {
  override readonly name = 'ModelCacheFullError';
}

/** ONNX Runtime's allocation failures, on the CPU and on CUDA, as its messages word them. */
export function isOutOfMemory(error: unknown): boolean {
  return /out of memory|failed to allocate|bad_alloc|cudaErrorMemoryAllocation|CUBLAS_STATUS_ALLOC_FAILED/i.test(error instanceof Error ? error.message : String(error));
}

function outOfMemory(spec: ModelSpec, error: unknown, budgetBytes: number): string {
  const reason = deviceError(error);
  return `loading model ${spec.name} (${formatBytes(spec.bytes)}) ran out of memory with no other model loaded (${reason}): the memory budget of ${formatBytes(budgetBytes)} is more than the device has free; lower ${MEMORY_BUDGET_SETTING}`;
}

interface Entry<T> extends ModelSpec {
  value: Promise<T>;
  /** Jobs using it now; a pinned model is never evicted. */
  pins: number;
}

export interface Acquired<T> {
  model: T;
  /** False when it was already loaded (a cache hit loads nothing). */
  loaded: boolean;
  /** Models released to make room, least recently used first. */
  evicted: Resident[];
  /** True when this folder was loaded before from files since changed: those sessions go once no job uses them. */
  replaced: boolean;
  /** The job is done with the model: from now on it may be evicted (or released, once stale). Once per acquire. */
  unpin(): void;
}

/**
 * Loaded models within a byte budget, least recently used out. A model costs its weights' bytes;
 * a job also needs its working memory next to every model that stays, so acquire() evicts until
 * both fit. Generic over what it holds, so the policy is tested without ONNX Runtime.
 */
export class ModelCache<T extends Releasable> {
  /** Map order is the LRU order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry<T>>();
  /** Models whose folder changed on disk while a job still used them: released when their last job ends. */
  private readonly stale = new Set<Entry<T>>();

  constructor(readonly budgetBytes: number) {}

  get residentBytes(): number {
    return this.held().reduce((sum, entry) => sum + entry.bytes, 0);
  }

  /** What is loaded, least recently used first (stale models still in use first of all). */
  resident(): Resident[] {
    return this.held().map(({ name, bytes }) => ({ name, bytes }));
  }

  private held(): Entry<T>[] {
    return [...this.stale, ...this.entries.values()];
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /**
   * The model for a job, pinned until the answer's unpin(): from the cache, or loaded after evicting the
   * least recently used models that are not in use until it fits beside `workingBytes`. Refused
   * with ModelCacheFullError, loading and evicting nothing, when it cannot fit. onEvict hears each
   * eviction as it happens (before the load, which may take long or fail).
   *
   * The sizes are estimates and the budget may be set above what the device has: a load that runs
   * out of memory evicts every other model not in use and tries once more, and is refused with
   * ModelCacheFullError (not a crash, not an internal error) when that fails too.
   *
   * A model loaded from the same folder under another key (its files changed since) is never
   * handed out again: released now when no job uses it, else when its last job ends.
   */
  async acquire(spec: ModelSpec, workingBytes: number, load: () => Promise<T>, onEvict?: (evicted: Resident) => void): Promise<Acquired<T>> {
    const refusal = budgetRefusal(spec.name, spec.bytes, workingBytes, this.budgetBytes);
    if (refusal) throw new ModelCacheFullError(refusal);
    const replaced = await this.retireOlderVersions(spec);
    const existing = this.entries.get(spec.key);
    const victims = this.victims({ ...spec, bytes: existing ? existing.bytes : spec.bytes }, workingBytes);
    const evicted: Resident[] = [];
    evicted.push(...(await this.evict(victims, onEvict)));
    if (existing) {
      this.entries.delete(spec.key); // re-inserted as the most recently used
      this.entries.set(spec.key, existing);
      existing.pins++;
      return { model: await existing.value, loaded: false, evicted, replaced, unpin: this.unpinOnce(existing) };
    }
    const loaded = async () => {
      const entry = await this.load(spec, load);
      return { model: await entry.value, loaded: true, evicted, replaced, unpin: this.unpinOnce(entry) };
    };
    try {
      return await loaded();
    } catch (error) {
      if (!isOutOfMemory(error)) throw error;
      const idle = [...this.entries.values()].filter((entry) => entry.pins === 0);
      if (idle.length === 0) throw new ModelCacheFullError(outOfMemory(spec, error, this.budgetBytes));
      evicted.push(...(await this.evict(idle, onEvict)));
      try {
        return await loaded();
      } catch (retryError) {
        throw isOutOfMemory(retryError) ? new ModelCacheFullError(outOfMemory(spec, retryError, this.budgetBytes)) : retryError;
      }
    }
  }

  /** Loads into a pinned entry; a failed load leaves nothing behind, so the next request tries again. */
  private async load(spec: ModelSpec, load: () => Promise<T>): Promise<Entry<T>> {
    const entry: Entry<T> = { ...spec, value: load(), pins: 1 };
    this.entries.set(spec.key, entry);
    try {
      await entry.value;
      return entry;
    } catch (error) {
      if (this.entries.get(spec.key) === entry) this.entries.delete(spec.key);
      throw error;
    }
  }

  /** Drops and releases these entries, before anything new loads, so their memory is free for it. */
  private async evict(victims: Entry<T>[], onEvict?: (evicted: Resident) => void): Promise<Resident[]> {
    const evicted: Resident[] = [];
    for (const victim of victims) {
      this.entries.delete(victim.key);
      evicted.push({ name: victim.name, bytes: victim.bytes });
      onEvict?.({ name: victim.name, bytes: victim.bytes });
      await release(victim);
    }
    return evicted;
  }

  /**
   * Entries of the spec's folder under another key: their files changed on disk. Out of the
   * lookup at once, so no new job gets them; released now when idle, else by their last unpin.
   */
  private async retireOlderVersions(spec: ModelSpec): Promise<boolean> {
    const older = [...this.entries.values()].filter((entry) => entry.folder === spec.folder && entry.key !== spec.key);
    for (const entry of older) {
      this.entries.delete(entry.key);
      if (entry.pins > 0) this.stale.add(entry);
      else await release(entry);
    }
    return older.length > 0;
  }

  /** The unpin() of one acquire: a second call does nothing, and a stale model goes with its last job. */
  private unpinOnce(entry: Entry<T>): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      entry.pins--;
      if (entry.pins === 0 && this.stale.delete(entry)) void release(entry);
    };
  }

  /** Least recently used models, not in use, to drop so that the spec's model plus the job's working memory fit. */
  private victims(spec: ModelSpec, workingBytes: number): Entry<T>[] {
    const others = [...this.entries.values()].filter((entry) => entry.key !== spec.key);
    const staleBytes = [...this.stale].reduce((sum, entry) => sum + entry.bytes, 0);
    let needed = others.reduce((sum, entry) => sum + entry.bytes, staleBytes) + spec.bytes + workingBytes - this.budgetBytes;
    const victims: Entry<T>[] = [];
    for (const entry of others) {
      if (needed <= 0) break;
      if (entry.pins > 0) continue;
      victims.push(entry);
      needed -= entry.bytes;
    }
    if (needed > 0) {
      const busy = [...this.stale, ...others].filter((entry) => entry.pins > 0).map((entry) => `${entry.name} (${formatBytes(entry.bytes)})`);
      throw new ModelCacheFullError(
        `model ${spec.name} (${formatBytes(spec.bytes)}) and ${formatBytes(workingBytes)} of working memory do not fit in the memory budget of ${formatBytes(this.budgetBytes)} beside the models in use: ${busy.join(', ')}; try again when they finish`,
      );
    }
    return victims;
  }
}

/** Gives back a model's memory; one whose load failed has nothing to give. */
async function release<T extends Releasable>(entry: Entry<T>): Promise<void> {
  await entry.value.then((model) => model.release()).catch(() => undefined);
}
