/**
 * Runs `task` now, then `intervalMs` after each run has finished (so slow answers never pile up),
 * until the returned function is called. Made for `$effect(() => poll(…))`, which calls it on leaving.
 * `task` reports its own errors; polling goes on regardless.
 */
export function poll(task: () => Promise<void>, intervalMs: number): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = async () => {
    try {
      await task();
    } catch (error) {
      console.error(error);
    }
    if (!stopped) timer = setTimeout(run, intervalMs);
  };
  void run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
