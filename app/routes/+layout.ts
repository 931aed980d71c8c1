import { error, redirect } from '@sveltejs/kit';
import { errorCode } from '$lib/forms';
import { afterLogin, loginHref, setSignedIn } from '$lib/session';
import { trpc } from '$lib/trpc';
import type { LayoutLoad } from './$types';

// A pure single-page app: rendered in the browser only, served from build/ui by the broker.
export const ssr = false;
export const prerender = false;

/**
 * Who is signed in, and the way to the setup or login page when nobody is. Signed in, this runs again only on
 * `invalidateAll` (signing in or out), not on every navigation: the URL is read untracked, and a session that
 * ends in between is noticed by `sessionLink`. Signed out, the path is tracked, so that any link leaving the
 * login page comes back here.
 */
export const load: LayoutLoad = async ({ url, untrack }) => {
  setSignedIn(false);
  // One batched request.
  const [{ setupRequired }, user] = await Promise.all([
    // FORBIDDEN while the first admin is to be set up and the UI is opened at a name that is not the broker's.
    trpc.auth.status.query().catch((cause: unknown) => {
      if (errorCode(cause) === 'FORBIDDEN') error(403, (cause as Error).message);
      throw cause;
    }),
    trpc.auth.me.query().catch((cause: unknown) => {
      if (errorCode(cause) === 'UNAUTHORIZED') return null;
      throw cause;
    }),
  ]);

  if (setupRequired) {
    if (url.pathname !== '/setup') redirect(307, '/setup');
    return { user: null };
  }
  if (!user) {
    if (url.pathname !== '/login') redirect(307, loginHref(untrack(() => new URL(url))));
    return { user: null };
  }
  setSignedIn(true);
  const at = untrack(() => new URL(url));
  if (at.pathname === '/login') redirect(307, afterLogin(at.searchParams.get('next')));
  if (at.pathname === '/setup') redirect(307, '/');
  return { user };
};
