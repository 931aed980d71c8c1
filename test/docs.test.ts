import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { refusals } from '../broker/refusals.ts';
import { options } from '../server/config.ts';
import { paths } from '../server/paths.ts';

const brokerReadme = fs.readFileSync(path.join(paths.root, 'broker', 'README.md'), 'utf8');
const readme = fs.readFileSync(path.join(paths.root, 'README.md'), 'utf8');

describe('documentation', () => {
  it('documents every refusal code with its HTTP status in broker/README.md, and no other', () => {
    const documented = [...brokerReadme.matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \|/gm)].map((m) => [m[1], m[2]!.trim()]);
    expect(documented.map(([code]) => code).sort()).toEqual(Object.keys(refusals).sort());
    for (const [code, status] of documented) {
      const expected = refusals[code as keyof typeof refusals].status;
      if (expected) expect(status).toBe(String(expected));
    }
  });

  it('documents every setting in the README with its flag and environment variable', () => {
    for (const option of Object.values(options)) {
      expect(readme).toContain(`\`${option.env}\``);
      if (option.flag) expect(readme).toContain(`\`--${option.flag}\``);
    }
  });
});
