/** Something a ring holds, with what it costs in memory (bytes, as the inspector counts them). */
export interface Costed {
  cost: number;
}

/**
 * The last `capacity` items, oldest first, with the sum of their costs. Pushing into a full ring drops the oldest;
 * `shift` drops the oldest on request (the inspector's total bound).
 *
 * Its array grows as items come, doubling up to `capacity`: most stations hold a few frames (an idle one its
 * BootNotification and the answer), and an array grown one push at a time would reserve 17 slots for them.
 */
export class Ring<T extends Costed> {
  #items: (T | undefined)[];
  readonly #capacity: number;
  #start = 0;
  #size = 0;
  #cost = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('a ring holds at least one item');
    this.#capacity = capacity;
    this.#items = new Array(Math.min(2, capacity));
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
    else if (this.#size === this.#items.length) this.#grow();
    this.#items[(this.#start + this.#size) % this.#items.length] = item;
    this.#size++;
    this.#cost += item.cost;
    return dropped;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#start]!;
    this.#items[this.#start] = undefined;
    this.#start = (this.#start + 1) % this.#items.length;
    this.#size--;
    this.#cost -= item.cost;
    return item;
  }

  /** The items, oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.#size; i++) out.push(this.#items[(this.#start + i) % this.#items.length]!);
    return out;
  }

  /** A full array, not yet of `capacity`: twice the room, the items moved to its start in order. */
  #grow(): void {
    const items = new Array<T | undefined>(Math.min(this.#capacity, this.#items.length * 2));
    for (let i = 0; i < this.#size; i++) items[i] = this.#items[(this.#start + i) % this.#items.length];
    this.#items = items;
    this.#start = 0;
  }
}
