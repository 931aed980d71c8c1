/**
 * Bench only, in the process whose idle memory is measured (broker and pipe alike):
 * `node --expose-gc --import ./scripts/bench/gc-on-signal.ts …`. SIGUSR2 runs a full garbage collection, so that RSS
 * before and after the stations connect is compared without the garbage of whatever ran before.
 */
process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.());
