/**
 * The one lifecycle of every form and button that calls the broker: busy while it runs, the field errors and the
 * message of a refusal, what it did once done, and where keyboard focus goes then (the first invalid field, else the
 * message; the result once done), so that it never drops to the top of the page.
 *
 *   const form = new FormAction({ fieldOfCode: { CONFLICT: 'slug' } });
 *   <form {@attach form.attach} onsubmit={…}>   …   <Outcome of={form} />
 *   const data = form.check(schema, values);     // field errors shown, focus on the first
 *   if (data) await form.run(async () => { await trpc.….mutate(data); return 'Saved'; });
 */
import { tick } from 'svelte';
import type { z } from 'zod';
import { check as checkValues, refusal, type FieldErrors } from './forms.ts';

export interface FormActionOptions {
  /** Error codes whose message belongs under one field: `{ CONFLICT: 'slug' }`. */
  fieldOfCode?: Record<string, string>;
  /** Messages to show for error codes instead of the broker's: `{ TOO_MANY_REQUESTS: 'Too many failed sign-ins.' }`. */
  messages?: Record<string, string>;
  /** Called with the field errors of a refusal before focus moves (to unfold the part of the form that holds them). */
  onerrors?: (errors: FieldErrors) => void;
}

/** The action whose outcome shows now: using another one clears it, so a message stays with the form it answers. */
let shown: FormAction | undefined;

export class FormAction {
  busy = $state(false);
  errors: FieldErrors = $state({});
  /** Why the last run was refused, for the whole form (role=alert). */
  message = $state('');
  /** What the last run did (role=status). */
  status = $state('');

  readonly #options: FormActionOptions;
  #root: HTMLElement | undefined;

  constructor(options: FormActionOptions = {}) {
    this.#options = options;
  }

  /** `{@attach form.attach}` on the form or panel that holds the action's fields and its `<Outcome>`. */
  attach = (node: HTMLElement) => {
    this.#root = node;
    return () => {
      if (this.#root === node) this.#root = undefined;
    };
  };

  /** Forgets the outcome: when the form is opened anew. */
  reset(): void {
    this.errors = {};
    this.message = '';
    this.status = '';
  }

  /** Checks values with the schema the server uses: the data, or undefined with the errors shown and focused. */
  check<S extends z.ZodType>(schema: S, values: unknown): z.output<S> | undefined {
    this.#use();
    this.message = '';
    this.status = '';
    const checked = checkValues(schema, values);
    if (checked.ok) {
      this.errors = {};
      return checked.data;
    }
    void this.refuse(checked.errors);
    return undefined;
  }

  /** Shows a refusal found in the browser, and moves focus to it. */
  async refuse(errors: FieldErrors, message = ''): Promise<void> {
    this.#use();
    this.errors = errors;
    this.message = message;
    this.status = '';
    if (Object.keys(errors).length > 0) this.#options.onerrors?.(errors);
    await this.#focus('invalid');
  }

  /**
   * Runs a call: what it returns is said as the status. False when it was refused, with the broker's field errors
   * or message shown. `focus` says where focus goes once done when not to the status (e.g. a result's heading).
   */
  async run(task: () => Promise<string | void>, focus?: () => HTMLElement | null | undefined): Promise<boolean> {
    this.#use();
    const before = document.activeElement;
    this.busy = true;
    this.message = '';
    this.status = '';
    try {
      const done = await task();
      this.errors = {};
      this.status = done ?? '';
      this.busy = false;
      await this.#focus(this.status ? 'status' : undefined, focus, before);
      return true;
    } catch (error) {
      const refused = refusal(error, this.#options.fieldOfCode, this.#options.messages);
      this.busy = false;
      await this.refuse(refused.fields, refused.message ?? '');
      return false;
    } finally {
      this.busy = false;
    }
  }

  /**
   * A form's onsubmit: checks `values()` with `schema` (errors shown and focused), then runs `task` with the data.
   * `schema` may be a function, for one that depends on state (e.g. the tenant's badge length).
   *   const create = action.submit(schema, () => form, async (data) => { await trpc.….mutate(data); return 'Added'; });
   */
  submit<S extends z.ZodType>(
    schema: S | (() => S),
    values: () => unknown,
    task: (data: z.output<S>) => Promise<string | void>,
    focus?: () => HTMLElement | null | undefined,
  ): (event: SubmitEvent) => void {
    return (event) => {
      event.preventDefault();
      const data = this.check(typeof schema === 'function' ? schema() : schema, values());
      if (data !== undefined) void this.run(() => task(data), focus);
    };
  }

  #use(): void {
    if (shown !== this) shown?.reset();
    shown = this;
  }

  /** After the DOM shows the outcome: the first invalid field, else the message; or the status or result. */
  async #focus(what: 'invalid' | 'status' | undefined, target?: () => HTMLElement | null | undefined, before?: Element | null) {
    await tick();
    const root = this.#root;
    let element: HTMLElement | null | undefined;
    if (what === 'invalid') element = firstInvalid(root) ?? root?.querySelector<HTMLElement>('[data-outcome="message"]');
    else element = target?.() ?? (what === 'status' ? root?.querySelector<HTMLElement>('[data-outcome="status"]') : undefined);
    // The button that was pressed was disabled while busy, which took focus away: give it back.
    if (!element && before instanceof HTMLElement && before.isConnected && (document.activeElement === document.body || !document.activeElement)) {
      element = before;
    }
    if (!element) return;
    // A heading or a message takes focus only with a tabindex.
    if (element.tabIndex < 0 && !element.hasAttribute('tabindex')) element.setAttribute('tabindex', '-1');
    element.focus();
  }
}

/** The first field marked invalid; of a radio group (`data-invalid`: radios take no aria-invalid), the chosen radio. */
function firstInvalid(root: HTMLElement | undefined): HTMLElement | undefined {
  const first = root?.querySelector<HTMLElement>('[aria-invalid="true"], [data-invalid]');
  if (first instanceof HTMLInputElement && first.type === 'radio' && first.name) {
    return root?.querySelector<HTMLInputElement>(`input[type="radio"][name="${CSS.escape(first.name)}"]:checked`) ?? first;
  }
  return first ?? undefined;
}
