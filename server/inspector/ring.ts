/** Something a ring holds, with what it costs in memory (bytes, as the inspector counts them). */
export interface Costed {
  cost: number;
}

/**
 * The last `capacity` items, oldest first, with the sum of their costs. Pushing into a full ring drops the oldest;
 * `shift` drops the oldest on request (the inspector's total bound).
 */
export class Ring<T extends Costed> {
  readonly #items: (T | undefined)[] = [];
  readonly #capacity: number;
  #start = 0;
  #size = 0;
  #cost = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('a ring holds at least one item');
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#size;
  }

  /** The sum of the costs of the items held. */
  get cost(): number {
    return this.#cost;
  }

  /** Adds `item` as the newest; returns the oldest when it had to go to make room. */
  push(item: T): T | undefined {
    let dropped: T | undefined;
    if (this.#size === this.#capacity) dropped = this.shift();
    this.#items[(this.#start + this.#size) % this.#capacity] = item;
    this.#size++;
    this.#cost += item.cost;
    return dropped;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#start]!;
    this.#items[this.#start] = undefined;
    this.#start = (this.#start + 1) % this.#capacity;
    this.#size--;
    this.#cost -= item.cost;
    return item;
  }

  /** The items, oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.#size; i++) out.push(this.#items[(this.#start + i) % this.#capacity]!);
    return out;
  }
}
