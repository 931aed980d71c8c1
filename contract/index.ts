/**
 * The API contract: enums, field schemas, cross-field rules and defaults, shared by the broker, the database, the
 * API and the admin UI. Depends on zod alone (no ORM, no Node built-ins), so that it can ship in the browser bundle;
 * test/layers.test.ts holds it to that.
 */
export * from './accounts.ts';
export * from './drivers.ts';
export * from './stations.ts';
export * from './tenants.ts';
export * from './samples.ts';
export * from './schedule.ts';
export * from './sites.ts';
