import { initTRPC } from '@trpc/server';
import { z, ZodError } from 'zod';
import type { Logger } from 'pino';
import type { Broker } from '../broker/index.ts';
import type { Db } from '../db/index.ts';

export interface Context {
  db: Db;
  broker: Broker;
  log: Logger;
}

const t = initTRPC.context<Context>().create({
  errorFormatter({ shape, error }) {
    // Field-level messages for forms, from the same zod schemas the UI uses.
    if (!(error.cause instanceof ZodError)) return { ...shape, data: { ...shape.data, stack: undefined } };
    return {
      ...shape,
      message: z.prettifyError(error.cause),
      data: { ...shape.data, stack: undefined, fieldErrors: z.flattenError(error.cause).fieldErrors },
    };
  },
});

export const router = t.router;
export const publicProcedure = t.procedure;
export const createCallerFactory = t.createCallerFactory;
