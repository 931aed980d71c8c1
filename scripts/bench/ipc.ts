/**
 * The bench's helper processes (CPMS, load generator) take commands from scripts/bench.ts over the IPC channel:
 * `{ id, command, args }` in, `{ id, result }` or `{ id, error }` out.
 */
export type Handler = (args: Record<string, unknown>) => unknown;

export function serve(handlers: Record<string, Handler>): void {
  process.on('message', (message: { id: number; command: string; args: Record<string, unknown> }) => {
    const handler = handlers[message.command];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown command ${message.command}`);
        return handler(message.args ?? {});
      })
      .then(
        (result) => process.send!({ id: message.id, result }),
        (error: unknown) => process.send!({ id: message.id, error: String((error as Error).stack ?? error) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
}
