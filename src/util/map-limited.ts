/**
 * `work` over every item with at most `limit` calls in flight, the answers in item order. One
 * call per item at once (Promise.all over a whole request) holds every item's buffers and
 * promises at the same time and floods libuv's four threadpool threads, so other clients' calls
 * wait behind it; a small pool keeps memory flat and lets their callbacks run in between.
 * The first failure is thrown at once, and no new calls start after it.
 */
export async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index]!);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
