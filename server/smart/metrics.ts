import { Gauge, type Registry } from 'prom-client';
import type { Db } from '../../db/index.ts';
import { allSites } from '../../db/sites.ts';
import { siteOffers, uncontrollableBySite } from '../../db/smart.ts';
import { liveAllocation } from './live.ts';

/**
 * Per site (labels tenant and site): its limit now, the total of the offers, and the total its sessions draw, in watts
 * (amperes per phase × voltage × the phases each draws from). Computed at each scrape from the live allocation.
 * With dispatch: the offers in force (smart_offers, what dispatch last offered, A per phase summed over sessions) and
 * the stations marked uncontrollable.
 */
export function registerSiteMetrics(registry: Registry, db: () => Db): void {
  const labelNames = ['tenant', 'site'];
  // prom-client collects gauges in the order they were registered: the first one computes all three.
  const offered = new Gauge({ name: 'ocpp_broker_site_offered_watts', help: 'The total of the offers to the site sessions', labelNames, registers: [] });
  const measured = new Gauge({ name: 'ocpp_broker_site_measured_watts', help: 'The total the site sessions draw, from their latest readings', labelNames, registers: [] });
  const inForce = new Gauge({
    name: 'ocpp_broker_site_offers_in_force_amperes',
    help: 'The sum of the offers dispatch has in force for the site sessions, A per phase',
    labelNames,
    registers: [],
  });
  const uncontrollable = new Gauge({ name: 'ocpp_broker_smart_uncontrollable', help: 'Stations of the site marked uncontrollable', labelNames, registers: [] });
  new Gauge({
    name: 'ocpp_broker_site_limit_watts',
    help: 'The site limit now (grid or schedule window), before the safety margin',
    labelNames,
    registers: [registry],
    collect() {
      const limit = this;
      limit.reset();
      offered.reset();
      measured.reset();
      inForce.reset();
      uncontrollable.reset();
      const now = Date.now();
      const marked = uncontrollableBySite(db());
      for (const { site, tenantSlug } of allSites(db())) {
        const labels = { tenant: tenantSlug, site: site.name };
        inForce.set(labels, siteOffers(db(), site.id).reduce((sum, o) => sum + o.offerA, 0));
        uncontrollable.set(labels, marked.get(site.id) ?? 0);
        const { allocation, sessions } = liveAllocation(db(), site, now);
        const watts = (amps: number, phases: number) => amps * site.voltageV * phases;
        limit.set(labels, watts(allocation.budget.limitA, allocation.budget.phases.length));
        offered.set(labels, allocation.offers.reduce((sum, o) => sum + watts(o.offerA, o.phases.length), 0));
        const offerOf = new Map(allocation.offers.map((o) => [o.sessionId, o]));
        measured.set(
          labels,
          sessions.reduce((sum, s) => sum + (s.powerW ?? (s.measuredA === null ? 0 : watts(s.measuredA, offerOf.get(s.key)?.phases.length ?? 1))), 0),
        );
      }
    },
  });
  registry.registerMetric(offered);
  registry.registerMetric(measured);
  registry.registerMetric(inForce);
  registry.registerMetric(uncontrollable);
}
