/**
 * What the two ways of bundling the server share: `npm start`'s ES modules (scripts/build-server.ts) and the single
 * executable's CommonJS (scripts/package.ts). Each saves memory in every thread that loads a bundle.
 */
import path from 'node:path';
import type * as esbuild from 'esbuild';

/**
 * node:http and node:https as CommonJS `require()`s. An ES module's `import … from 'node:http'` makes Node read every
 * export of the module at once, and node:http's lazy `WebSocket` export then loads undici (~4 MB) for nothing.
 */
export const requiredBuiltins: esbuild.Plugin = {
  name: 'required-builtins',
  setup(build) {
    build.onResolve({ filter: /^(node:)?https?$/ }, (args) =>
      args.namespace === 'required-builtin' ? { path: args.path, external: true } : { path: args.path.replace(/^node:/, ''), namespace: 'required-builtin' },
    );
    build.onLoad({ filter: /.*/, namespace: 'required-builtin' }, (args) => ({ contents: `module.exports = require('node:${args.path}');`, loader: 'js' }));
  },
};

/**
 * zod's `locales` namespace (its error messages in ~50 languages, ~400 KB) holds English only: the broker never
 * configures another (`z.config(z.locales.…)`), and each thread would keep the source of all of them.
 */
export const englishOnlyZod: esbuild.Plugin = {
  name: 'english-only-zod',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer)
        ? { path: path.join(path.dirname(args.importer), '..', 'locales', 'en.js'), namespace: 'zod-locales' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};

/**
 * The bundle's text with every character beyond ASCII escaped. V8 keeps a script's source in memory, and a single
 * non-ASCII character makes it two bytes a character. esbuild (`charset: 'ascii'`) escapes strings and names already
 * but keeps comments as written (`—`, `→`); in a comment an escape is as good.
 */
export function asciiOnly(text: string): string {
  return text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
