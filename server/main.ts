import { isUserError, runCli } from './cli.ts';

runCli(process.argv.slice(2)).then(
  (code) => {
    if (code !== 'running') process.exit(code);
  },
  (error: unknown) => {
    console.error(isUserError(error) ? error.message : error);
    process.exit(1);
  },
);
