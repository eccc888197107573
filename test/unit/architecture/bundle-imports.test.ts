import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '#infra/repo-root.ts';

/** The folders whose code is bundled into Lambda functions. */
const BUNDLED_ROOTS = ['contracts', 'events', 'layers', 'functions'];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return /\.(ts|mts)$/.test(entry.name) ? [path] : [];
  });
}

/**
 * `import { z } from 'zod'` binds zod's `z` namespace object, which esbuild cannot tree-shake: every
 * bundle that has one such import carries all of zod 4 (its JSON Schema code and all 40-odd locales,
 * about 350 KiB more than the schemas use; all of `zod/mini`, 250 KiB more, for `zod/mini`) and compiles
 * it at every cold start. `import * as z` names the same exports and lets the bundler keep only those
 * used.
 */
const NAMED_NAMESPACE = /^import\s+\{\s*z(?:\s+as\s+\w+)?\s*\}\s+from\s+'zod(?:\/v4)?(?:\/mini)?';/m;

describe('imports of code that Lambda bundles', () => {
  it('imports zod as a namespace (import * as z), never its z object', () => {
    const offenders = BUNDLED_ROOTS.flatMap(sourceFiles).filter((file) =>
      NAMED_NAMESPACE.test(readFileSync(join(REPO_ROOT, file), 'utf8')),
    );
    expect(offenders).toEqual([]);
  });

  it('recognizes the forms that pull in all of zod, and not the ones that do not', () => {
    for (const bad of [
      "import { z } from 'zod';",
      "import { z as zc } from 'zod';",
      "import {z} from 'zod/v4';",
      "import { z } from 'zod/mini';",
    ]) {
      expect(NAMED_NAMESPACE.test(bad)).toBe(true);
    }
    for (const fine of [
      "import * as z from 'zod';",
      "import * as z from 'zod/mini';",
      "import type { z } from 'zod';",
      "import { type ZodType, parse } from 'zod/v4/core';",
    ]) {
      expect(NAMED_NAMESPACE.test(fine)).toBe(false);
    }
  });
});
