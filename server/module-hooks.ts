/**
 * Loaded before the server when it runs from its sources (`node --import ./server/module-hooks.ts server/main.ts`, as
 * the tests do; it applies to the writer's worker thread too, which inherits the flag). `npm start` runs the bundles
 * of scripts/build-server.ts, which need none of this.
 *
 * Works around Node 24's module loader re-reading drizzle-orm's package.json (179 KB, mostly its `exports` map) for
 * every file of the package it loads: `package_json_reader.read()` spreads the package data, which runs the lazy
 * `exports` getter and so JSON.parses the whole map each time. drizzle's ~200 files made that ~200 MB of garbage and
 * ~1 s at every start (RSS 290-385 MB right after start, 160-190 MB with this hook). Relative imports between
 * drizzle-orm's own ES modules are resolved here instead, as the default resolver would (a relative URL, and the
 * package is `"type": "module"`), without looking up the package scope. Everything else goes to the default.
 * The bundles (`npm start`, the single executable) never need this.
 */
import { registerHooks } from 'node:module';

const DRIZZLE = '/node_modules/drizzle-orm/';

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (
      context.parentURL?.includes(DRIZZLE) &&
      (specifier.startsWith('./') || specifier.startsWith('../')) &&
      specifier.endsWith('.js')
    ) {
      return { url: new URL(specifier, context.parentURL).href, format: 'module', shortCircuit: true };
    }
    return nextResolve(specifier, context);
  },
});
