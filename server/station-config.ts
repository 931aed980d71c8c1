import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { OwnCallError, type Broker } from '../broker/index.ts';
import { ocppVersionOf } from '../contract/index.ts';
import { MASK, SECRET_CONFIGURATION_KEY } from './inspector/mask.ts';

/** One configuration value of a station, as the station page shows it. */
export interface ConfigurationRow {
  /** OCPP 2.0.1: the component (with its instance and EVSE); null in 1.6, whose keys have none. */
  component: string | null;
  /** The 1.6 key, or the 2.0.1 variable (with its instance, and the attribute type when not Actual). */
  key: string;
  value: string | null;
  /** null when the station did not say. */
  readonly: boolean | null;
}

export interface StationConfiguration {
  version: '1.6' | '2.0.1';
  rows: ConfigurationRow[];
  /** More than MAX_ROWS values: the rest were left out. */
  truncated: boolean;
}

/** Values kept of one station's configuration (a full 2.0.1 inventory is a few hundred to a few thousand). */
export const MAX_ROWS = 10_000;
/** How long the NotifyReport frames of one GetBaseReport may take, from its answer to the last (`tbc` false). */
export const REPORT_TIMEOUT_MS = 60_000;

/** Why reading a configuration failed, besides the call's own OwnCallError. */
export class ConfigurationError extends Error {}

/** The messages an operator may trigger (OCPP 1.6 §5.17, 2.0.1 F06): the station then sends it to the CPMS. */
export const TRIGGERABLE = ['StatusNotification', 'MeterValues', 'Heartbeat', 'BootNotification'] as const;
export type Triggerable = (typeof TRIGGERABLE)[number];

const v16Configuration = z.object({
  configurationKey: z.array(z.object({ key: z.string(), readonly: z.boolean(), value: z.string().optional() })).optional(),
  unknownKey: z.array(z.string()).optional(),
});

const v201Report = z.object({
  requestId: z.number(),
  tbc: z.boolean().optional(),
  reportData: z
    .array(
      z.object({
        component: z.object({
          name: z.string(),
          instance: z.string().optional(),
          evse: z.object({ id: z.number(), connectorId: z.number().optional() }).optional(),
        }),
        variable: z.object({ name: z.string(), instance: z.string().optional() }),
        variableAttribute: z.array(
          z.object({ type: z.string().optional(), value: z.string().optional(), mutability: z.string().optional() }),
        ),
      }),
    )
    .optional(),
});

const status = z.object({ status: z.string() });

/** The OCPP version of a connected station's link; throws OwnCallError NOT_CONNECTED. */
function versionOf(broker: Broker, tenantId: number, identity: string): '1.6' | '2.0.1' {
  const link = broker.stations(tenantId).find((s) => s.identity === identity);
  if (!link) throw new OwnCallError('NOT_CONNECTED', 'That station is not connected');
  return ocppVersionOf(link.subprotocol);
}

/**
 * A station's configuration, asked by the broker itself (never seen by the CPMS): 1.6 GetConfiguration, 2.0.1
 * GetBaseReport FullInventory and the NotifyReport frames that follow, which the broker answers and keeps.
 */
export async function readConfiguration(
  broker: Broker,
  tenantId: number,
  identity: string,
  options: { timeoutMs?: number; reportTimeoutMs?: number } = {},
): Promise<StationConfiguration> {
  const version = versionOf(broker, tenantId, identity);
  if (version === '1.6') {
    const answer = v16Configuration.safeParse(await broker.call(tenantId, identity, 'GetConfiguration', {}, options));
    if (!answer.success) throw new ConfigurationError('The station answered GetConfiguration with an invalid payload');
    const keys = answer.data.configurationKey ?? [];
    return {
      version,
      rows: keys.slice(0, MAX_ROWS).map((k) => ({ component: null, key: k.key, value: secretless(k.key, k.value), readonly: k.readonly })),
      truncated: keys.length > MAX_ROWS,
    };
  }
  return readReport(broker, tenantId, identity, options);
}

async function readReport(
  broker: Broker,
  tenantId: number,
  identity: string,
  options: { timeoutMs?: number; reportTimeoutMs?: number },
): Promise<StationConfiguration> {
  const requestId = randomInt(1, 2 ** 31 - 1);
  const rows: ConfigurationRow[] = [];
  let truncated = false;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const release = broker.claim(tenantId, identity, {
    action: 'NotifyReport',
    claim(payload) {
      const report = v201Report.safeParse(payload);
      if (!report.success || report.data.requestId !== requestId) return false; // the CPMS's, or not one to read
      for (const data of report.data.reportData ?? []) {
        for (const attribute of data.variableAttribute) {
          if (rows.length >= MAX_ROWS) {
            truncated = true;
            break;
          }
          rows.push({
            component: componentName(data.component),
            key: variableName(data.variable, attribute.type),
            value: secretless(data.variable.name, attribute.value),
            readonly: attribute.mutability === undefined ? null : attribute.mutability === 'ReadOnly',
          });
        }
      }
      if (!report.data.tbc) finished();
      return true;
    },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const answer = status.safeParse(
      await broker.call(tenantId, identity, 'GetBaseReport', { requestId, reportBase: 'FullInventory' }, options),
    );
    if (!answer.success) throw new ConfigurationError('The station answered GetBaseReport with an invalid payload');
    if (answer.data.status === 'EmptyResultSet') return { version: '2.0.1', rows: [], truncated: false };
    if (answer.data.status !== 'Accepted') throw new ConfigurationError(`The station answered GetBaseReport with ${answer.data.status}`);
    const reportTimeoutMs = options.reportTimeoutMs ?? REPORT_TIMEOUT_MS;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, reportTimeoutMs, 'late')));
    if ((await Promise.race([done, late])) === 'late') {
      throw new OwnCallError('TIMEOUT', `The station did not finish its report within ${reportTimeoutMs} ms`);
    }
    return { version: '2.0.1', rows, truncated };
  } finally {
    clearTimeout(timer);
    release();
  }
}

/**
 * A value as the table shows it: the 1.6 AuthorizationKey and the 2.0.1 BasicAuthPassword (which a station should not
 * report at all) masked, as the inspector masks them.
 */
function secretless(name: string, value: string | undefined): string | null {
  if (value === undefined) return null;
  return SECRET_CONFIGURATION_KEY.test(name) ? MASK : value;
}

function componentName(component: { name: string; instance?: string; evse?: { id: number; connectorId?: number } }): string {
  let name = component.instance ? `${component.name}[${component.instance}]` : component.name;
  if (component.evse) name += ` EVSE ${component.evse.id}${component.evse.connectorId === undefined ? '' : `/${component.evse.connectorId}`}`;
  return name;
}

function variableName(variable: { name: string; instance?: string }, type: string | undefined): string {
  const name = variable.instance ? `${variable.name}[${variable.instance}]` : variable.name;
  return type && type !== 'Actual' ? `${name} (${type})` : name;
}

/** Asks the station to send `message` now (TriggerMessage); resolves with its status (Accepted, Rejected, …). */
export async function triggerMessage(broker: Broker, tenantId: number, identity: string, message: Triggerable): Promise<{ status: string }> {
  versionOf(broker, tenantId, identity);
  const answer = status.safeParse(await broker.call(tenantId, identity, 'TriggerMessage', { requestedMessage: message }));
  if (!answer.success) throw new ConfigurationError('The station answered TriggerMessage with an invalid payload');
  return { status: answer.data.status };
}
