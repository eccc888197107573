import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '#infra/repo-root.ts';
import {
  type ImportEdge,
  importGraph,
  resolveSpecifier,
  specifiersOf,
  violationsOf,
} from '../../support/import-graph.ts';

const describeEdge = (edge: ImportEdge) => `${edge.from} → '${edge.specifier}'`;

describe('the layering of the project', () => {
  const graph = importGraph(REPO_ROOT);

  it('reads the import graph of every layer', () => {
    const importers = new Set(graph.map((edge) => edge.from.split('/')[0]));
    expect([...importers].sort()).toEqual(['contracts', 'events', 'functions', 'infra', 'layers']);
    expect(graph.length).toBeGreaterThan(300);
  });

  it('has no import that points against the dependency direction', () => {
    const violations = graph.flatMap(violationsOf).map((v) => `${describeEdge(v.edge)}: ${v.rule}`);
    expect(violations).toEqual([]);
  });

  it('names only modules that exist', () => {
    const missing = graph
      .filter((edge) => edge.to !== null && !existsSync(join(REPO_ROOT, edge.to)))
      .map(describeEdge);
    expect(missing).toEqual([]);
  });
});

describe('the layering rules', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  /** A throwaway repository with the given files, and the rules each of its imports breaks. */
  function violationsIn(files: Record<string, string>): string[] {
    const root = mkdtempSync(join(tmpdir(), 'layering-'));
    roots.push(root);
    for (const folder of ['contracts', 'events', 'layers', 'functions', 'infra'])
      mkdirSync(join(root, folder));
    for (const [path, source] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), source);
    }
    return importGraph(root)
      .flatMap(violationsOf)
      .map((v) => `${describeEdge(v.edge)}: ${v.rule}`)
      .sort();
  }

  it('fails an adapter that imports a handler (a back-edge)', () => {
    const found = violationsIn({
      'layers/aws/src/gateway.ts': "import type { ChatRequestBody } from '#functions/api/schemas.ts';\n",
    });
    expect(found).toEqual([
      "layers/aws/src/gateway.ts → '#functions/api/schemas.ts': aws may import only contracts, core, aws; not functions",
    ]);
  });

  it('fails core logic that imports an AWS adapter, and contracts that import core', () => {
    const found = violationsIn({
      'layers/core/src/rag/plan.ts': "import { DocumentTable } from '#aws/rag/documents.ts';\n",
      'contracts/http/schemas.ts': "import { chunk } from '#core/rag/chunk.ts';\n",
    });
    expect(found).toHaveLength(2);
    expect(found[0]).toContain('contracts may import only contracts; not core');
    expect(found[1]).toContain('core may import only contracts, core; not aws');
  });

  it('fails a handler folder that imports another, and any layer that imports infra', () => {
    const found = violationsIn({
      'functions/rag/shared.ts': "import { parseInput } from '#functions/dataprep/state.ts';\n",
      'functions/api/models.ts': "import { API_ROUTES } from '#infra/constructs/api.ts';\n",
      'layers/aws/src/config.ts': "export { x } from '#infra/config.ts';\n",
    });
    expect(found).toEqual([
      "functions/api/models.ts → '#infra/constructs/api.ts': functions may import only contracts, core, aws, functions; not infra",
      "functions/rag/shared.ts → '#functions/dataprep/state.ts': a handler folder may not import another (functions/rag → functions/dataprep): share through layers/ or contracts/",
      "layers/aws/src/config.ts → '#infra/config.ts': aws may import only contracts, core, aws; not infra",
    ]);
  });

  it('fails infrastructure that imports handler code instead of naming its entry', () => {
    const found = violationsIn({
      'infra/constructs/api.ts': "import { API_ROUTES } from '#functions/api/routes.ts';\n",
    });
    expect(found).toEqual([
      "infra/constructs/api.ts → '#functions/api/routes.ts': infra may import only contracts, core, aws, infra; not functions",
    ]);
  });

  it('fails a relative path that climbs out of its area, even in an allowed direction', () => {
    const found = violationsIn({
      'functions/api/chat.ts': "import { http } from '../../layers/aws/src/http.ts';\n",
    });
    expect(found).toEqual([
      "functions/api/chat.ts → '../../layers/aws/src/http.ts': a relative import may not leave functions/api: use a # alias",
    ]);
  });

  it('accepts imports in the dependency direction', () => {
    const found = violationsIn({
      'functions/api/chat.ts': [
        "import { z } from 'zod';",
        "import { API_ROUTES } from '#contracts/http/routes.ts';",
        "import { apiHandler } from '#aws/http.ts';",
        "import { chunk } from '#core/rag/chunk.ts';",
        "import { json } from './json.ts';",
      ].join('\n'),
      'infra/constructs/api.ts': "import { API_ROUTES } from '#contracts/http/routes.ts';\n",
      'layers/core/src/rag/chunk.ts': "import { countTokens } from '../dataprep/tokens.ts';\n",
    });
    expect(found).toEqual([]);
  });
});

describe('reading imports', () => {
  it('finds static, multi-line, type, re-export, side-effect and literal dynamic imports', () => {
    const source = [
      "import { a } from './a.ts';",
      'import {',
      '  b,',
      '  type C,',
      "} from '#aws/b.ts';",
      "import type { D } from '#core/d.ts';",
      "export * from '../e.ts';",
      "export { f } from './f.ts';",
      "import './side-effect.ts';",
      "const g = await import('#functions/g.ts');",
      "const text = 'import nothing from here';",
    ].join('\n');
    expect(specifiersOf(source)).toEqual([
      './a.ts',
      '#aws/b.ts',
      '#core/d.ts',
      '../e.ts',
      './f.ts',
      './side-effect.ts',
      '#functions/g.ts',
    ]);
  });

  it('resolves aliases and relative paths to repository paths, packages to null', () => {
    expect(resolveSpecifier('functions/api/chat.ts', '#aws/http.ts')).toBe('layers/aws/src/http.ts');
    expect(resolveSpecifier('layers/aws/src/rag/store.ts', '../errors.ts')).toBe('layers/aws/src/errors.ts');
    expect(resolveSpecifier('functions/api/chat.ts', 'zod/mini')).toBeNull();
    expect(() => resolveSpecifier('functions/api/chat.ts', '#nowhere/x.ts')).toThrow(/unknown import alias/);
  });
});
