import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { paths } from '../../server/paths.ts';

const main = path.join(paths.root, 'server', 'main.ts');
const hooks = path.join(paths.root, 'server', 'module-hooks.ts');

/**
 * Spawns `node --import server/module-hooks.ts server/main.ts`, the sources `npm start` bundles (same Node), each in an empty working directory, and cleans up
 * after: `cleanup()` kills what still runs and removes the directories.
 */
export function processes() {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];

  function tempDir(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocpp-broker-proc-'));
    dirs.push(dir);
    return dir;
  }

  /** Starts the broker (or any command) and follows its JSON log lines. */
  function run(env: Record<string, string>, args: string[] = [], options: { cwd?: string; stdin?: string } = {}) {
    const cwd = options.cwd ?? tempDir();
    const child = spawn(process.execPath, ['--import', hooks, main, ...args], { cwd, env: { PATH: process.env.PATH, ...env } });
    children.push(child);
    child.stdin!.end(options.stdin ?? '');
    const lines: Record<string, unknown>[] = [];
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const started = new Promise<number>((resolve, reject) => {
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
        stdout += `${line}\n`;
        if (!line.startsWith('{')) return;
        const entry = JSON.parse(line) as Record<string, unknown>;
        lines.push(entry);
        if (entry.event === 'started') resolve(entry.port as number);
      });
      void exited.then((code) => reject(new Error(`exited with ${code}: ${stderr}`)));
    });
    started.catch(() => {}); // awaited only by the tests that expect a start
    return { child, cwd, lines, started, exited, stdout: () => stdout, stderr: () => stderr };
  }

  return {
    run,
    tempDir,
    cleanup() {
      for (const child of children.splice(0)) child.kill('SIGKILL');
      for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The environment a running process was started with (after an `execve`, the new one's). */
export function environOf(pid: number): Record<string, string> {
  const entries = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(entries.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}
