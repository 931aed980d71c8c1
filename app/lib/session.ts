/**
 * Signing in, seen from the UI. The root layout asks who is signed in when the app starts and after signing
 * in or out; between those, an UNAUTHORIZED answer to any call means the session has ended (it expired, the
 * password was changed, the user was removed), and `sessionLink` sends the user to the login page, once.
 */
import { error } from '@sveltejs/kit';
import type { TRPCLink } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import { goto } from '$app/navigation';
import { navigating } from '$app/state';
import type { AppRouter } from '../../server/routers/index.ts';
import type { Me } from './trpc.ts';

let signedIn = false;

/** Called by the root layout once it knows (true), and before signing out (false). */
export function setSignedIn(value: boolean): void {
  signedIn = value;
}

/** The login page, with the page to come back to afterwards. */
export function loginHref(back: URL): string {
  const next = back.pathname + back.search;
  return next === '/' || !isLocalPath(next) ? '/login' : `/login?next=${encodeURIComponent(next)}`;
}

/** Where to go after signing in: `next` when it is a page of this app, else the tenant list. */
export function afterLogin(next: string | null): string {
  return next && isLocalPath(next) ? next : '/';
}

/** A path on this origin ("//host" and "/\host" are other origins to a browser), other than the login pages. */
function isLocalPath(path: string): boolean {
  return /^\/(?![/\\])/.test(path) && !/^\/(login|setup)(?:[/?#]|$)/.test(path);
}

/** A tRPC link that sends the user to the login page when a call is refused for want of a session. */
export const sessionLink: TRPCLink<AppRouter> =
  () =>
  ({ op, next }) =>
    observable((observer) =>
      next(op).subscribe({
        next: (result) => observer.next(result),
        error: (cause) => {
          if (signedIn && cause.data?.code === 'UNAUTHORIZED') {
            signedIn = false;
            // During a navigation the page being loaded is the one to come back to.
            void goto(loginHref(navigating.to?.url ?? new URL(location.href)), { invalidateAll: true });
          }
          observer.error(cause);
        },
        complete: () => observer.complete(),
      }),
    );

/** For the loads of admin-only pages: viewers get a 403 page instead of a list of refusals. */
export async function requireAdmin(parent: () => Promise<{ user: Me | null }>, what: string): Promise<void> {
  const { user } = await parent();
  if (user?.role !== 'admin') error(403, `Only admins can ${what}.`);
}
