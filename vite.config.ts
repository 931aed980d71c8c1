import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';

/** `npm run dev` serves the UI with hot reload and sends the API and OCPP to a broker started with `npm start`. */
const broker = 'http://localhost:8080';

export default defineConfig({
  plugins: [sveltekit()],
  // Kit's build-time server bundle imports `cookie` from .svelte-kit/output, where Node would find the
  // project's own cookie@2 instead of the cookie@0.6 nested under @sveltejs/kit: bundle kit's copy in.
  ssr: { noExternal: ['cookie'] },
  server: {
    proxy: {
      '/trpc': broker,
      '/healthz': broker,
      '/ocpp': { target: broker, ws: true },
    },
  },
});
