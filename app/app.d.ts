import type { Me } from '$lib/trpc';

declare global {
  namespace App {
    interface PageData {
      /** Who is signed in (the root layout asks); null on the login and setup pages. */
      user: Me | null;
    }
  }
}

export {};
