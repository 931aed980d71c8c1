/** Polls `check` every `intervalMs` until it returns something truthy, and returns that; throws after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('not seen in time');
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Whether `check` comes true within `ms` (eventually's polling): for `expect(await within(…), why).toBe(true)`. */
export function within(ms: number, check: () => boolean | Promise<boolean>, everyMs = 50): Promise<boolean> {
  return eventually(async () => (await check()) || undefined, ms, everyMs).then(
    () => true,
    () => false,
  );
}
