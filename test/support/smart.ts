import { station } from './ocpp.ts';

/** A charging profile a simulated station holds. */
export interface HeldProfile {
  id: number;
  purpose: string;
  stackLevel: number;
  place: number;
  transactionId: string | null;
  limit: number;
  unit: string;
}

/** Every call the broker (or the CPMS) made to a simulated station, in the order of arrival over all stations. */
export interface Received {
  seq: number;
  identity: string;
  action: string;
  payload: Record<string, unknown>;
}

let seq = 0;

/**
 * A charging station played by ocpp-rpc that keeps the profiles it Accepts, and whose car draws min(its limit, the
 * car's maximum), reported in MeterValues (1.6) or TransactionEvent Updated (2.0.1) every `meterIntervalMs`.
 * Its limit: the TxProfile of its transaction (highest stackLevel), else its TxDefaultProfile, else `maxA`.
 */
export class SimStation {
  readonly identity: string;
  readonly version: '1.6' | '2.0.1';
  readonly profiles = new Map<number, HeldProfile>();
  /** The calls of this connection and earlier ones (the log survives reconnects). */
  readonly received: Received[];
  /** What it answers SetChargingProfile with. */
  answer: 'Accepted' | 'Rejected' = 'Accepted';
  carMaxA = 32;
  maxA = 32;
  /** A station that holds profiles but lets the car draw its maximum regardless. */
  ignoresLimits = false;
  transactionId: string | null = null;
  cp: ReturnType<typeof station>;
  #meter: NodeJS.Timeout | undefined;
  #endpoint: string;
  #meterIntervalMs: number;

  constructor(endpoint: string, identity: string, version: '1.6' | '2.0.1', log: Received[], meterIntervalMs = 200) {
    this.identity = identity;
    this.version = version;
    this.received = log;
    this.#endpoint = endpoint;
    this.#meterIntervalMs = meterIntervalMs;
    this.cp = this.#client();
  }

  #client() {
    const cp = station(this.#endpoint, this.identity, [this.version === '1.6' ? 'ocpp1.6' : 'ocpp2.0.1']);
    const record = (action: string) => (({ params }: { params: Record<string, unknown> }) => {
      this.received.push({ seq: seq++, identity: this.identity, action, payload: params });
    });
    cp.handle('SetChargingProfile', async ({ params = {} }: { params?: Record<string, unknown> }) => {
      record('SetChargingProfile')({ params });
      if (this.answer === 'Accepted') this.#install(params);
      return { status: this.answer };
    });
    cp.handle('ClearChargingProfile', async ({ params = {} }: { params?: Record<string, unknown> }) => {
      record('ClearChargingProfile')({ params });
      // By id only (what the broker sends); a clear by criteria removes every profile here.
      const id = (this.version === '1.6' ? params.id : params.chargingProfileId) as number | undefined;
      if (id === undefined) this.profiles.clear();
      else if (!this.profiles.delete(id)) return { status: 'Unknown' };
      return { status: 'Accepted' };
    });
    cp.handle('GetConfiguration', async ({ params = {} }: { params?: Record<string, unknown> }) => {
      record('GetConfiguration')({ params });
      return {
        configurationKey: [
          { key: 'ChargeProfileMaxStackLevel', readonly: true, value: '8' },
          { key: 'ChargingScheduleAllowedChargingRateUnit', readonly: true, value: 'Current' },
          { key: 'ChargingScheduleMaxPeriods', readonly: true, value: '24' },
        ],
      };
    });
    cp.handle('GetVariables', async ({ params = {} }: { params?: Record<string, unknown> }) => {
      record('GetVariables')({ params });
      const data = params.getVariableData as { component: { name: string }; variable: { name: string } }[];
      const values: Record<string, string> = { Enabled: 'true', ProfileStackLevel: '8', RateUnit: 'A,W', PeriodsPerSchedule: '24', Entries: '16' };
      return {
        getVariableResult: data.map((d) => ({
          attributeStatus: 'Accepted',
          attributeValue: values[d.variable.name] ?? '',
          component: d.component,
          variable: d.variable,
        })),
      };
    });
    return cp;
  }

  #install(params: Record<string, unknown>) {
    const p = (this.version === '1.6' ? params.csChargingProfiles : params.chargingProfile) as Record<string, unknown>;
    const schedule = (this.version === '1.6' ? p.chargingSchedule : (p.chargingSchedule as unknown[])[0]) as {
      chargingRateUnit: string;
      chargingSchedulePeriod: { limit: number }[];
    };
    const id = (this.version === '1.6' ? p.chargingProfileId : p.id) as number;
    this.profiles.set(id, {
      id,
      purpose: p.chargingProfilePurpose as string,
      stackLevel: p.stackLevel as number,
      place: (this.version === '1.6' ? params.connectorId : params.evseId) as number,
      transactionId: p.transactionId === undefined ? null : String(p.transactionId),
      limit: schedule.chargingSchedulePeriod[0]!.limit,
      unit: schedule.chargingRateUnit,
    });
  }

  /** The limit in force for its session now, A per phase. */
  limitA(): number {
    const pick = (purpose: string, match: (p: HeldProfile) => boolean) =>
      [...this.profiles.values()].filter((p) => p.purpose === purpose && match(p)).sort((a, b) => b.stackLevel - a.stackLevel)[0];
    const tx = this.transactionId === null ? undefined : pick('TxProfile', (p) => p.transactionId === this.transactionId);
    const held = tx ?? pick('TxDefaultProfile', () => true);
    return held ? Math.min(held.limit, this.maxA) : this.maxA;
  }

  /** What the car draws: min(limit, car maximum) while a session is open. */
  drawA(): number {
    if (this.transactionId === null) return 0;
    return this.ignoresLimits ? this.carMaxA : Math.min(this.limitA(), this.carMaxA);
  }

  async connect() {
    await this.cp.connect();
    await this.cp.call('BootNotification', this.version === '1.6'
      ? { chargePointVendor: 'Sim', chargePointModel: 'AC' }
      : { reason: 'PowerUp', chargingStation: { vendorName: 'Sim', model: 'AC' } });
  }

  /** The same station on a new connection (its profiles and its session kept). */
  async reconnect() {
    this.#stopMeter();
    await this.cp.close({ force: true }).catch(() => {});
    this.cp = this.#client();
    await this.connect();
    if (this.transactionId !== null) this.#startMeter();
  }

  async start(badge: string) {
    if (this.version === '1.6') {
      await this.cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging' });
      const answer = (await this.cp.call('StartTransaction', { connectorId: 1, idTag: badge, meterStart: 0, timestamp: new Date().toISOString() })) as { transactionId: number };
      this.transactionId = String(answer.transactionId);
    } else {
      this.transactionId = `${this.identity}-tx`;
      await this.cp.call('TransactionEvent', {
        eventType: 'Started',
        timestamp: new Date().toISOString(),
        triggerReason: 'Authorized',
        seqNo: 0,
        transactionInfo: { transactionId: this.transactionId, chargingState: 'Charging' },
        evse: { id: 1, connectorId: 1 },
        idToken: { idToken: badge, type: 'ISO14443' },
      });
    }
    this.#startMeter();
  }

  async stop() {
    this.#stopMeter();
    const transactionId = this.transactionId!;
    this.transactionId = null;
    if (this.version === '1.6') {
      await this.cp.call('StopTransaction', { transactionId: Number(transactionId), meterStop: 1000, timestamp: new Date().toISOString() });
      await this.cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' });
    } else {
      await this.cp.call('TransactionEvent', {
        eventType: 'Ended',
        timestamp: new Date().toISOString(),
        triggerReason: 'StopAuthorized',
        seqNo: 99,
        transactionInfo: { transactionId, stoppedReason: 'Local' },
        evse: { id: 1, connectorId: 1 },
      });
    }
  }

  #seqNo = 1;

  #startMeter() {
    this.#stopMeter();
    this.#meter = setInterval(() => void this.#report().catch(() => {}), this.#meterIntervalMs); // a reading lost as the link closes
  }

  #stopMeter() {
    clearInterval(this.#meter);
    this.#meter = undefined;
  }

  async #report() {
    if (this.transactionId === null) return;
    const a = this.drawA().toFixed(1);
    const sampledValue = ['L1', 'L2', 'L3'].map((phase) =>
      this.version === '1.6'
        ? { value: a, measurand: 'Current.Import', unit: 'A', phase }
        : { value: Number(a), measurand: 'Current.Import', unitOfMeasure: { unit: 'A' }, phase },
    );
    const meterValue = [{ timestamp: new Date().toISOString(), sampledValue }];
    if (this.version === '1.6') {
      await this.cp.call('MeterValues', { connectorId: 1, transactionId: Number(this.transactionId), meterValue });
    } else {
      await this.cp.call('TransactionEvent', {
        eventType: 'Updated',
        timestamp: new Date().toISOString(),
        triggerReason: 'MeterValuePeriodic',
        seqNo: this.#seqNo++,
        transactionInfo: { transactionId: this.transactionId, chargingState: 'Charging' },
        evse: { id: 1, connectorId: 1 },
        meterValue,
      });
    }
  }

  async close() {
    this.#stopMeter();
    await this.cp.close({ force: true }).catch(() => {});
  }
}
