import { afterEach, describe, expect, it } from 'vitest';
import { MALLOC_SETTINGS } from '../server/malloc-settings.ts';
import { environOf, processes } from './support/process.ts';

const procs = processes();
afterEach(() => procs.cleanup());

const LISTEN = { PORT: '0', TLS_PORT: '0', HOST: '127.0.0.1' };

describe("glibc's malloc settings", () => {
  it('are set by the broker starting itself again: the same process, its arguments and Node flags kept, nothing printed', async () => {
    const broker = procs.run(LISTEN, ['serve']);
    const port = await broker.started;
    expect(environOf(broker.child.pid!)).toMatchObject(MALLOC_SETTINGS);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
    expect(broker.stderr()).toBe('');
  });

  it('are left to whoever started the broker when they set one of them', async () => {
    const broker = procs.run({ ...LISTEN, MALLOC_ARENA_MAX: '4' });
    await broker.started;
    const environ = environOf(broker.child.pid!);
    expect(environ.MALLOC_ARENA_MAX).toBe('4');
    expect(environ).not.toHaveProperty('MALLOC_TRIM_THRESHOLD_');
  });

  it('cost a command nothing but the restart: it still gets its arguments and answers', async () => {
    const version = procs.run({}, ['--version']);
    expect(await version.exited).toBe(0);
    expect(version.stdout()).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(version.stderr()).toBe('');
  });
});
