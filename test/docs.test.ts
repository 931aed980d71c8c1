import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OWN_CALL_FAILURES } from '../broker/outbox.ts';
import { refusals } from '../broker/refusals.ts';
import { options } from '../server/config.ts';
import { paths } from '../server/paths.ts';

const brokerReadme = fs.readFileSync(path.join(paths.root, 'broker', 'README.md'), 'utf8');
const readme = fs.readFileSync(path.join(paths.root, 'README.md'), 'utf8');

/** One `## ` section of broker/README.md, up to the next. */
function section(heading: string): string {
  const start = brokerReadme.indexOf(`\n## ${heading}\n`);
  expect(start, heading).toBeGreaterThan(-1);
  const end = brokerReadme.indexOf('\n## ', start + 1);
  return brokerReadme.slice(start, end === -1 ? undefined : end);
}

describe('documentation', () => {
  it('documents every refusal code with its HTTP status in broker/README.md, and no other', () => {
    const documented = [...section('The handshake, and why the station waits').matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \|/gm)].map((m) => [
      m[1],
      m[2]!.trim(),
    ]);
    expect(documented.map(([code]) => code).sort()).toEqual(Object.keys(refusals).sort());
    for (const [code, status] of documented) {
      const expected = refusals[code as keyof typeof refusals].status;
      if (expected) expect(status).toBe(String(expected));
    }
  });

  it("documents every failure code of the broker's own calls in broker/README.md, and no other", () => {
    const documented = [...section("The broker's own calls").matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...OWN_CALL_FAILURES].sort());
  });

  it('documents every setting in the README with its flag and environment variable', () => {
    for (const option of Object.values(options)) {
      expect(readme).toContain(`\`${option.env}\``);
      if (option.flag) expect(readme).toContain(`\`--${option.flag}\``);
    }
  });
});
