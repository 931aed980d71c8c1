import sea from 'node:sea';

/**
 * glibc's malloc, set for a long-running server with a few threads: one arena instead of one per thread that ever
 * allocated (the writer's worker, libuv's pool, V8's helpers: nine here), and freed memory given back to the system
 * once 128 KB lie unused at the top of the heap. Without them, about 11 MB of memory already freed stays with the
 * process just after start (docs/performance.md); no CPU cost was measured. Other C libraries ignore them.
 */
export const MALLOC_SETTINGS: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1', MALLOC_TRIM_THRESHOLD_: '131072' };

/**
 * glibc reads these from the environment once, before any JavaScript runs: so when none of them is set, the process
 * starts itself again with them (`execve`: the same process id, standard streams and arguments, nothing else kept).
 * One that is set, by whoever started the broker, is their choice: then nothing happens. Call it first, before
 * anything opens a file or a socket. Linux only; where it cannot be done, the broker runs on without them.
 */
export function restartWithMallocSettings(): void {
  if (process.platform !== 'linux' || !process.execve || Object.keys(MALLOC_SETTINGS).some((name) => process.env[name] !== undefined)) return;
  // In the executable, argv[1] repeats its path and Node flags are baked in; otherwise they come back as given.
  const args = sea.isSea() ? process.argv.slice(2) : [...process.execArgv, ...process.argv.slice(1)];
  try {
    // Its "experimental" warning would be printed on the next tick, which never comes.
    process.execve(process.execPath, [process.execPath, ...args], { ...process.env, ...MALLOC_SETTINGS });
  } catch (error) {
    console.error(`Running without the memory settings ${Object.keys(MALLOC_SETTINGS).join(', ')}: ${(error as Error).message}`);
  }
}
