import { createCallerFactory, router } from '../trpc.ts';
import { auditRouter } from './audit.ts';
import { certificatesRouter } from './certificates.ts';
import { connectionsRouter } from './connections.ts';
import { driversRouter } from './drivers.ts';
import { inspectorRouter } from './inspector.ts';
import { authRouter } from './auth.ts';
import { registryRouter } from './registry.ts';
import { sitesRouter } from './sites.ts';
import { stationsRouter } from './stations.ts';
import { tenantsRouter } from './tenants.ts';
import { tokensRouter } from './tokens.ts';
import { transactionsRouter } from './transactions.ts';
import { usersRouter } from './users.ts';

export const appRouter = router({
  auth: authRouter,
  tenants: tenantsRouter,
  stations: stationsRouter,
  connections: connectionsRouter,
  inspector: inspectorRouter,
  registry: registryRouter,
  sites: sitesRouter,
  certificates: certificatesRouter,
  drivers: driversRouter,
  transactions: transactionsRouter,
  users: usersRouter,
  tokens: tokensRouter,
  audit: auditRouter,
});

export type AppRouter = typeof appRouter;

/** For tests and scripts: call procedures without HTTP. */
export const createCaller = createCallerFactory(appRouter);
