/**
 * The most calls one tRPC batch request may carry (larger ones are refused with 400); the UI's client splits its
 * batches to fit. Each sign-in in a batch is throttled on its own.
 */
export const MAX_BATCH_SIZE = 10;
