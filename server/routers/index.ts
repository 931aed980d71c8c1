import { createCallerFactory, router } from '../trpc.ts';
import { stationsRouter } from './stations.ts';
import { tenantsRouter } from './tenants.ts';

export const appRouter = router({
  tenants: tenantsRouter,
  stations: stationsRouter,
});

export type AppRouter = typeof appRouter;

/** For tests and scripts: call procedures without HTTP. */
export const createCaller = createCallerFactory(appRouter);
