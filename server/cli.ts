import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pkg from '../package.json' with { type: 'json' };
import { countAdmins, findLogin } from '../db/users.ts';
import { createAdmin, setPassword } from './accounts.ts';
import { openDatabase } from '../db/index.ts';
import { passwordSchema, usernameSchema } from '../contract/index.ts';
import { startServer } from './app.ts';
import { hashPassword } from './auth/password.ts';
import { backup, restore } from './backup.ts';
import { ConfigError, configSchema, loadConfig, options } from './config.ts';
import { dataFiles, DataDirBusy } from './data-dir.ts';
import { createLogger } from './logger.ts';
import { paths } from './paths.ts';

/**
 * The process must be gone this long after SIGINT/SIGTERM, or, while observations are still being written, each
 * time this long has passed without any of them written.
 */
const EXIT_DEADLINE_MS = 5_000;
/** The watchdog's kill comes this much before the deadline (the signal may wait for a busy event loop)... */
const WATCHDOG_MARGIN_MS = 500;
/** ...and the process's own deadline, that logs what was pending, this much. */
const OWN_DEADLINE_MARGIN_MS = 1_000;

/**
 * Kills this process (SIGKILL) if it still exists `afterMs` from now, from a shell of its own. A deadline timer in the
 * process is not enough: `process.exit()` waits for work already queued on libuv's thread pool (a flood of sign-ins
 * queues scrypt runs of a second or more each, measured at 20 s), and no timer runs by then. The shell kills only
 * while it is still this process's child, so a reused process id is never hit.
 */
function armWatchdog(afterMs: number): { kill(): void } | undefined {
  const script = `sleep ${afterMs / 1000}; set -- $(cat /proc/$$/stat); [ "$4" = "${process.pid}" ] && kill -KILL ${process.pid}`;
  try {
    const watchdog = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
    watchdog.on('error', () => {}); // no shell: the process's own deadline still holds
    watchdog.unref();
    return {
      /** Disarms it: its process group (the shell and its sleep) goes. */
      kill() {
        try {
          if (watchdog.pid) process.kill(-watchdog.pid, 'SIGKILL');
        } catch {
          // gone already
        }
      },
    };
  } catch {
    return undefined; // the same
  }
}

const COMMANDS = `Commands:
  serve                          run the broker (the default)
  backup <file>                  copy the database (and its key, as <file>.key) while the broker runs
  restore <file>                 put a backup in place (the broker must be stopped)
  admin create <username>        create an admin; the password comes from BROKER_ADMIN_PASSWORD or standard input
  admin reset-password <username>  set a user's password (same source), end their sessions and tokens, lift their sign-in throttle
  migrate                        apply pending database migrations (a backup is written first)`;

export function helpText(): string {
  const defaults = configSchema.parse({}) as Record<string, unknown>;
  const rows = Object.entries(options).map(([key, option]) => {
    const flag = option.flag ? `--${option.flag} <value>` : '';
    const fallback = defaults[key] === undefined ? '' : ` (default ${String(defaults[key])})`;
    return `  ${flag.padEnd(36)} ${option.env.padEnd(28)} ${option.help}${fallback}`;
  });
  return [
    `Smart OCPP Broker ${pkg.version}: a transparent OCPP-J proxy between charging stations and their CPMS.`,
    '',
    'Usage: ocpp-broker [command] [arguments] [options]',
    '',
    COMMANDS,
    '',
    'Options (flag, environment variable; a flag wins over the variable):',
    ...rows,
    '  --help, --version',
  ].join('\n');
}

/** Splits `[command [args…]] [--flags…]`. */
function split(argv: string[]): { words: string[]; flags: string[] } {
  const first = argv.findIndex((arg) => arg.startsWith('-'));
  return first < 0 ? { words: argv, flags: [] } : { words: argv.slice(0, first), flags: argv.slice(first) };
}

async function readPassword(env: NodeJS.ProcessEnv): Promise<string> {
  const given = env.BROKER_ADMIN_PASSWORD ?? (process.stdin.isTTY ? undefined : fs.readFileSync(0, 'utf8').replace(/\r?\n$/, ''));
  if (given === undefined) throw new ConfigError('Give the password in BROKER_ADMIN_PASSWORD or on standard input');
  const parsed = passwordSchema.safeParse(given);
  if (!parsed.success) throw new ConfigError(`The password: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

/** Runs one command; resolves with the exit code (serve resolves once it is running). */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number | 'running'> {
  if (argv.includes('--help') || argv[0] === 'help') {
    console.log(helpText());
    return 0;
  }
  if (argv.includes('--version')) {
    console.log(pkg.version);
    return 0;
  }
  const { words, flags } = split(argv);
  const [command = 'serve', ...args] = words;
  // BROKER_ADMIN_USER/PASSWORD configure the first admin of `serve`; `admin` reads the password on its own.
  const config = loadConfig(flags, command === 'admin' ? { ...env, BROKER_ADMIN_USER: undefined, BROKER_ADMIN_PASSWORD: undefined } : env);
  const files = dataFiles(config.dataDir);
  const need = (count: number, usage: string) => {
    if (args.length !== count) throw new ConfigError(`Usage: ocpp-broker ${usage}`);
  };

  switch (command) {
    case 'serve': {
      need(0, 'serve [options]');
      const log = createLogger(config.logLevel);
      const server = await startServer(config, { logger: log });
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.once(signal, () => {
          let watchdog = armWatchdog(EXIT_DEADLINE_MS - WATCHDOG_MARGIN_MS);
          let pending = server.observationsPending();
          setInterval(() => {
            const now = server.observationsPending();
            if (now > 0 && now < pending) {
              // The writer is still writing what the stations said: another window, as long as it makes progress.
              pending = now;
              watchdog?.kill();
              watchdog = armWatchdog(EXIT_DEADLINE_MS - WATCHDOG_MARGIN_MS);
              return;
            }
            log.error({ event: 'stop.deadline', signal, pending: server.pending() }, 'not stopped in time: exiting anyway');
            process.exit(1);
          }, EXIT_DEADLINE_MS - OWN_DEADLINE_MARGIN_MS).unref();
          server.close().then(
            () => process.exit(0),
            () => process.exit(1),
          );
        });
      }
      return 'running';
    }
    case 'backup': {
      need(1, 'backup <file>');
      const written = await backup(config.dataDir, path.resolve(args[0]!));
      console.log(`Backed up ${files.database} to ${written.database}${written.key ? ` and its key to ${written.key} (keep both, privately)` : ''}`);
      return 0;
    }
    case 'restore': {
      need(1, 'restore <file>');
      const { kept } = restore(config.dataDir, path.resolve(args[0]!));
      console.log(`Restored ${args[0]} into ${config.dataDir}${kept.length ? `; the previous files are kept as ${kept.join(', ')}` : ''}`);
      return 0;
    }
    case 'migrate': {
      need(0, 'migrate [options]');
      const store = openDatabase(files.database, paths.migrations, paths.nativeBinding);
      store.close();
      console.log(store.backupBeforeMigrating ? `Migrated; the database before is kept as ${store.backupBeforeMigrating}` : 'The database is up to date');
      return 0;
    }
    case 'admin': {
      const [action, name] = args;
      if (args.length !== 2 || (action !== 'create' && action !== 'reset-password')) {
        throw new ConfigError('Usage: ocpp-broker admin create <username> | admin reset-password <username>');
      }
      const username = usernameSchema.safeParse(name);
      if (!username.success) throw new ConfigError(`The username: ${username.error.issues[0]!.message}`);
      const passwordHash = await hashPassword(await readPassword(env));
      const store = openDatabase(files.database, paths.migrations, paths.nativeBinding);
      try {
        const existing = findLogin(store.db, username.data);
        if (action === 'create') {
          if (existing) throw new ConfigError(`The user "${username.data}" exists already`);
          const user = createAdmin(store.db, { username: username.data, passwordHash }, { actor: 'cli' })!;
          console.log(`Created the admin "${user.username}"${countAdmins(store.db) === 1 ? ' (the first one)' : ''}`);
        } else {
          if (!existing) throw new ConfigError(`No user "${username.data}"`);
          const tokensRevoked = setPassword(store.db, existing, passwordHash, { actor: 'cli' });
          console.log(`Set a new password for "${existing.username}", ended their sessions and revoked their ${tokensRevoked} API token(s)`);
        }
      } finally {
        store.close();
      }
      return 0;
    }
    default:
      throw new ConfigError(`Unknown command "${command}"; see --help`);
  }
}

/** The messages a person can act on, without a stack trace: bad options, a busy data directory, a port in use. */
export function isUserError(error: unknown): error is Error {
  const code = (error as { code?: string }).code;
  return error instanceof ConfigError || error instanceof DataDirBusy || code === 'EADDRINUSE' || code === 'EACCES';
}
