/**
 * The restore's work list: items with dependencies (a table's index builds after its rows,
 * its fingerprint after its indexes) run at most `concurrency` at a time, the ready item with
 * the highest priority first, so no phase barrier keeps a connection idle while work is left.
 * The first failure stops new items from starting, aborts the running ones through their
 * signal, waits for them to settle, and is then rethrown.
 * @module
 */

/** One unit of work. */
export interface WorkItem {
  /** Unique among the items; named in other items' `after`. */
  id: string;
  /** Items that must have completed before this one starts. */
  after?: string[];
  /** Among ready items, the highest priority starts first (ties: list order). */
  priority: number;
  /** Does the work; should stop early when `signal` aborts. */
  run: (signal: AbortSignal) => Promise<void>;
}

/** Runs every item, respecting `after`; rejects with the first failure. */
export function runScheduled(items: WorkItem[], concurrency: number, signal?: AbortSignal): Promise<void> {
  try {
    return schedule(items, concurrency, signal);
  } catch (err) {
    return Promise.reject(err);
  }
}

function schedule(items: WorkItem[], concurrency: number, signal?: AbortSignal): Promise<void> {
  const byId = new Map<string, { item: WorkItem; order: number; blocked: number; dependents: string[] }>();
  items.forEach((item, order) => {
    if (byId.has(item.id)) throw new Error(`duplicate work item ${item.id}`);
    byId.set(item.id, { item, order, blocked: 0, dependents: [] });
  });
  for (const item of items) {
    for (const dep of new Set(item.after ?? [])) {
      const d = byId.get(dep);
      if (!d) throw new Error(`work item ${item.id} depends on unknown item ${dep}`);
      d.dependents.push(item.id);
      byId.get(item.id)!.blocked++;
    }
  }
  const ready = [...byId.values()].filter((n) => n.blocked === 0);
  const byPriority = (a: { item: WorkItem; order: number }, b: { item: WorkItem; order: number }) =>
    b.item.priority - a.item.priority || a.order - b.order;
  ready.sort(byPriority);
  const ac = new AbortController();
  let running = 0;
  let completed = 0;
  let failed = false;
  let failure: unknown;
  return new Promise<void>((resolve, reject) => {
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      failure = err;
      ac.abort(err);
    };
    const onAbort = () => fail(signal?.reason ?? new Error("aborted"));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    const settle = () => {
      if (running > 0) return;
      if (!failed && ready.length > 0) return;
      signal?.removeEventListener("abort", onAbort);
      if (failed) reject(failure);
      else if (completed === items.length) resolve();
      else reject(new Error("work items depend on each other in a cycle"));
    };
    const pump = () => {
      while (!failed && running < Math.max(1, concurrency) && ready.length > 0) {
        const node = ready.shift()!;
        running++;
        let p: Promise<void>;
        try {
          p = node.item.run(ac.signal);
        } catch (err) {
          p = Promise.reject(err);
        }
        p.then(() => {
          completed++;
          for (const id of node.dependents) {
            const d = byId.get(id)!;
            if (--d.blocked === 0) {
              // Binary insertion keeps `ready` sorted without re-sorting it (thousands of tables).
              let lo = 0, hi = ready.length;
              while (lo < hi) {
                const mid = (lo + hi) >> 1;
                if (byPriority(ready[mid], d) <= 0) lo = mid + 1;
                else hi = mid;
              }
              ready.splice(lo, 0, d);
            }
          }
        }, fail).finally(() => {
          running--;
          pump();
        });
      }
      settle();
    };
    pump();
  });
}
