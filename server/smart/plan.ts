/**
 * Which limits to send after an allocation, as a pure function: from what each session's station holds now and what
 * it is offered, the decreases (sent at once, before anything else) and the increases (sent only once every decrease
 * was Accepted), so that the sum of the limits the stations hold never exceeds the budget, even mid-way
 * (/work/shared/SMART-CHARGING.md "How load managers allocate").
 *
 * - An increase is at most RAISE_STEP_A at a time, and at most once per RAISE_INTERVAL_MS per session: a car that is
 *   given more ramps up, and the site's meter sees it before the next step. A paused session (0) that may resume goes
 *   straight to the minimum, never to a current between 0 and it (IEC 61851-1).
 * - Changes below DEADBAND_A are not sent, except to or from 0. A decrease below the deadband is skipped only while the
 *   sum held stays within the budget on every phase it draws from; otherwise it is sent, however small.
 */
import type { PhaseName } from './allocate.ts';

/** Raised by at most this much per step, A per phase. */
export const RAISE_STEP_A = 4;
/** A session is raised at most once in this long. */
export const RAISE_INTERVAL_MS = 2 * 60_000;
/** Changes smaller than this are not sent (except to or from 0). */
export const DEADBAND_A = 1;

export interface PlanRules {
  raiseStepA: number;
  raiseIntervalMs: number;
  deadbandA: number;
  /** The site's minimum per session. */
  minCurrentA: number;
}

export interface PlanSession {
  key: string;
  phases: PhaseName[];
  /** What its station holds for it now, A per phase. */
  heldA: number;
  /** Its offer. */
  targetA: number;
  /** When it was last raised (ms), if ever. */
  raisedAt: number | null;
}

export interface Step {
  key: string;
  fromA: number;
  toA: number;
}

export interface Plan {
  decreases: Step[];
  increases: Step[];
}

const tenth = (a: number) => Math.round(a * 10) / 10;

/** `availableA`: per phase, what the sessions may hold together (the allocation's budget). */
export function plan(sessions: readonly PlanSession[], availableA: Partial<Record<PhaseName, number>>, rules: PlanRules, now: number): Plan {
  const decreases: Step[] = [];
  const increases: Step[] = [];
  const small: PlanSession[] = [];
  // What is held on each phase once every step is done (small decreases included, for now).
  const held = new Map<PhaseName, number>();
  const add = (phases: PhaseName[], a: number) => {
    for (const p of phases) held.set(p, (held.get(p) ?? 0) + a);
  };
  for (const s of sessions) {
    const from = tenth(s.heldA);
    const to = tenth(s.targetA);
    if (to < from) {
      if (to > 0 && from - to < rules.deadbandA) small.push(s);
      else decreases.push({ key: s.key, fromA: from, toA: to });
      add(s.phases, to);
      continue;
    }
    const next = raised(s, from, to, rules, now);
    if (next > from) increases.push({ key: s.key, fromA: from, toA: next });
    add(s.phases, Math.max(from, next));
  }
  // A small decrease stays unsent only while what it keeps fits on each of its phases.
  for (const s of small) {
    const keep = tenth(s.heldA) - tenth(s.targetA);
    const fits = s.phases.every((p) => (held.get(p) ?? 0) + keep <= (availableA[p] ?? 0) + 1e-6);
    if (fits) add(s.phases, keep);
    else decreases.push({ key: s.key, fromA: tenth(s.heldA), toA: tenth(s.targetA) });
  }
  return { decreases, increases };
}

/** Where an increase from `from` toward `to` goes now: `from` when it waits (deadband, rate). */
function raised(s: PlanSession, from: number, to: number, rules: PlanRules, now: number): number {
  if (to <= from) return from;
  if (from > 0 && to - from < rules.deadbandA) return from;
  if (s.raisedAt !== null && now - s.raisedAt < rules.raiseIntervalMs) return from;
  return tenth(Math.min(to, Math.max(from + rules.raiseStepA, rules.minCurrentA)));
}
