import { restartWithMallocSettings } from './malloc-settings.ts';

restartWithMallocSettings();
// Loaded only now: nothing of the broker runs in a process about to be replaced.
void import('./cli.ts').then(({ isUserError, runCli }) =>
  runCli(process.argv.slice(2)).then(
    (code) => {
      if (code !== 'running') process.exit(code);
    },
    (error: unknown) => {
      console.error(isUserError(error) ? error.message : error);
      process.exit(1);
    },
  ),
);
