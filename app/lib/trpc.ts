import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import type { inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '../../server/routers/index.ts';
import { MAX_BATCH_SIZE } from '../../contract/index.ts';
import { sessionLink } from './session.ts';

/**
 * The broker's admin API, on the same origin as the UI (in `npm run dev`, through Vite's proxy).
 * The session cookie goes along by itself; `sessionLink` notices when the session has ended. Subscriptions (the
 * message inspector's stream) are server-sent events, through the browser's EventSource, on the same origin.
 */
export const trpc = createTRPCClient<AppRouter>({
  links: [
    sessionLink,
    splitLink({
      condition: (op) => op.type === 'subscription',
      true: httpSubscriptionLink({ url: '/trpc' }),
      false: httpBatchLink({ url: '/trpc', maxItems: MAX_BATCH_SIZE }),
    }),
  ],
});

// No transformer: dates arrive as ISO strings, and these types say so.
type Outputs = inferRouterOutputs<AppRouter>;
export type TenantRow = Outputs['tenants']['list'][number];
export type Tenant = Outputs['tenants']['get'];
export type Station = Outputs['stations']['list'][number];
export type RegisteredStation = Outputs['registry']['list'][number];
export type CertificateRow = Outputs['certificates']['list'][number];
export type Me = Outputs['auth']['me'];
export type User = Outputs['users']['list'][number];
export type ApiToken = Outputs['tokens']['list'][number];
export type AuditEntry = Outputs['audit']['list'][number];
export type Driver = Outputs['drivers']['get'];
export type ImportJob = Outputs['drivers']['importStatus'];
export type ImportResult = NonNullable<ImportJob['result']>;
export type Transaction = Outputs['transactions']['list']['transactions'][number];
export type EnergyMonth = Outputs['transactions']['energyByDriverMonth'][number];
export type StationDetail = Outputs['transactions']['station'];
export type MeterSample = Outputs['transactions']['series'][number];
export type ConnectionEvent = Outputs['connections']['list'][number];
export type Dashboard = Outputs['connections']['dashboard'];
export type Alert = Dashboard['alerts'][number];
export type CpmsHealth = Outputs['tenants']['health'];
export type CpmsTestResult = Outputs['tenants']['testCpms'];
export type InspectedFrame = Outputs['inspector']['frames'][number];
export type SiteLive = Outputs['sites']['get'];
export type Site = SiteLive['site'];
export type SiteLoad = Outputs['sites']['load'];
export type LimitChange = Outputs['sites']['limitChanges']['changes'][number];
export type StationConfiguration = Outputs['stations']['configuration'];
