import { deviceError } from '../diffusion/device.js';
import { budgetRefusal, MEMORY_BUDGET_SETTING } from '../diffusion/memory-estimate.js';
import { formatBytes } from '../util/format-bytes.js';

/** Anything the cache can hold: a loaded model whose memory release() gives back. */
export interface Releasable {
  release(): Promise<void> | void;
}

/** Which model a job needs and what it costs resident (its weights' size on disk). */
export interface ModelSpec {
  /** Identity in the cache: the model's folder. */
  key: string;
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
}

/**
 * Loaded models within a byte budget, least recently used out. A model costs its weights' bytes;
 * a job also needs its working memory next to every model that stays, so acquire() evicts until
 * both fit. Generic over what it holds, so the policy is tested without ONNX Runtime.
 */
export class ModelCache<T extends Releasable> {
  /** Map order is the LRU order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry<T>>();

  constructor(readonly budgetBytes: number) {}

  get residentBytes(): number {
    let total = 0;
    for (const entry of this.entries.values()) total += entry.bytes;
    return total;
  }

  /** What is loaded, least recently used first. */
  resident(): Resident[] {
    return [...this.entries.values()].map(({ name, bytes }) => ({ name, bytes }));
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /**
   * The model for a job, pinned until unpin(key): from the cache, or loaded after evicting the
   * least recently used models that are not in use until it fits beside `workingBytes`. Refused
   * with ModelCacheFullError, loading and evicting nothing, when it cannot fit. onEvict hears each
   * eviction as it happens (before the load, which may take long or fail).
   *
   * The sizes are estimates and the budget may be set above what the device has: a load that runs
   * out of memory evicts every other model not in use and tries once more, and is refused with
   * ModelCacheFullError (not a crash, not an internal error) when that fails too.
   */
  async acquire(spec: ModelSpec, workingBytes: number, load: () => Promise<T>, onEvict?: (evicted: Resident) => void): Promise<Acquired<T>> {
    const refusal = budgetRefusal(spec.name, spec.bytes, workingBytes, this.budgetBytes);
    if (refusal) throw new ModelCacheFullError(refusal);
    const existing = this.entries.get(spec.key);
    const victims = this.victims({ ...spec, bytes: existing ? existing.bytes : spec.bytes }, workingBytes);
    const evicted: Resident[] = [];
    evicted.push(...(await this.evict(victims, onEvict)));
    if (existing) {
      this.entries.delete(spec.key); // re-inserted as the most recently used
      this.entries.set(spec.key, existing);
      existing.pins++;
      return { model: await existing.value, loaded: false, evicted };
    }
    try {
      return { model: await this.load(spec, load), loaded: true, evicted };
    } catch (error) {
      if (!isOutOfMemory(error)) throw error;
      const idle = [...this.entries.values()].filter((entry) => entry.pins === 0);
      if (idle.length === 0) throw new ModelCacheFullError(outOfMemory(spec, error, this.budgetBytes));
      evicted.push(...(await this.evict(idle, onEvict)));
      try {
        return { model: await this.load(spec, load), loaded: true, evicted };
      } catch (retryError) {
        throw isOutOfMemory(retryError) ? new ModelCacheFullError(outOfMemory(spec, retryError, this.budgetBytes)) : retryError;
      }
    }
  }

  /** Loads into a pinned entry; a failed load leaves nothing behind, so the next request tries again. */
  private async load(spec: ModelSpec, load: () => Promise<T>): Promise<T> {
    const entry: Entry<T> = { ...spec, value: load(), pins: 1 };
    this.entries.set(spec.key, entry);
    try {
      return await entry.value;
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
      await victim.value.then((model) => model.release()).catch(() => undefined);
    }
    return evicted;
  }

  /** The job that acquired the model is done with it; it may be evicted from now on. */
  unpin(key: string): void {
    const entry = this.entries.get(key);
    if (entry && entry.pins > 0) entry.pins--;
  }

  /** Least recently used models, not in use, to drop so that the spec's model plus the job's working memory fit. */
  private victims(spec: ModelSpec, workingBytes: number): Entry<T>[] {
    const others = [...this.entries.values()].filter((entry) => entry.key !== spec.key);
    let needed = others.reduce((sum, entry) => sum + entry.bytes, 0) + spec.bytes + workingBytes - this.budgetBytes;
    const victims: Entry<T>[] = [];
    for (const entry of others) {
      if (needed <= 0) break;
      if (entry.pins > 0) continue;
      victims.push(entry);
      needed -= entry.bytes;
    }
    if (needed > 0) {
      const busy = others.filter((entry) => entry.pins > 0).map((entry) => `${entry.name} (${formatBytes(entry.bytes)})`);
      throw new ModelCacheFullError(
        `model ${spec.name} (${formatBytes(spec.bytes)}) and ${formatBytes(workingBytes)} of working memory do not fit in the memory budget of ${formatBytes(this.budgetBytes)} beside the models in use: ${busy.join(', ')}; try again when they finish`,
      );
    }
    return victims;
  }
}
