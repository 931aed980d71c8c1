import adapter from '@sveltejs/adapter-static';

/**
 * A single-page app: the broker serves build/ui (server/paths.ts) as static files and answers
 * every unknown path with index.html, so there is no SvelteKit server at run time.
 * @type {import('@sveltejs/kit').Config}
 */
export default {
  kit: {
    adapter: adapter({ pages: 'build/ui', assets: 'build/ui', fallback: 'index.html' }),
    files: {
      src: 'app',
      routes: 'app/routes',
      lib: 'app/lib',
      appTemplate: 'app/app.html',
      assets: 'static',
    },
    typescript: {
      // The generated tsconfig covers the UI and tests; the server, proxy, database and scripts are TypeScript too.
      config: (config) => {
        config.include.push('../server/**/*.ts', '../broker/**/*.ts', '../db/**/*.ts', '../contract/**/*.ts', '../scripts/**/*.ts', '../*.config.ts');
      },
    },
  },
};
