import { trpc } from '$lib/trpc';
import type { PageLoad } from './$types';

export const load: PageLoad = async () => ({ tenants: await trpc.tenants.list.query() });
