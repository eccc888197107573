import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

/**
 * The project's import graph and its layering rules. Dependencies point one way:
 * contracts (`contracts/`, `events/`) ← core (`layers/core`) ← AWS adapters (`layers/aws`) ← handlers
 * (`functions/<capability>`) ← infrastructure (`infra/`). Tests, benchmarks and scripts sit outside
 * the layers and may import anything.
 */

/** One import statement: the importing file, the specifier as written and the repository path it names. */
export interface ImportEdge {
  readonly from: string;
  readonly specifier: string;
  /** Repository-relative path of the imported module; `null` for a package import. */
  readonly to: string | null;
}

export interface LayerViolation {
  readonly edge: ImportEdge;
  readonly rule: string;
}

/** The package.json `imports` aliases and the folders they name. */
export const ALIASES: Readonly<Record<string, string>> = {
  '#contracts/': 'contracts/',
  '#events/': 'events/',
  '#core/': 'layers/core/src/',
  '#aws/': 'layers/aws/src/',
  '#functions/': 'functions/',
  '#infra/': 'infra/',
};

/** The folders whose imports are checked. */
export const LAYERED_ROOTS = ['contracts', 'events', 'layers', 'functions', 'infra'] as const;

type Layer = 'contracts' | 'core' | 'aws' | 'functions' | 'infra' | 'outside';

function layerOf(path: string): Layer {
  if (path.startsWith('contracts/') || path.startsWith('events/')) return 'contracts';
  if (path.startsWith('layers/core/')) return 'core';
  if (path.startsWith('layers/aws/')) return 'aws';
  if (path.startsWith('functions/')) return 'functions';
  if (path.startsWith('infra/')) return 'infra';
  return 'outside';
}

/** The area a relative import may not leave: a capability folder of `functions/`, or the layer's root. */
function areaOf(path: string): string {
  const layer = layerOf(path);
  if (layer === 'functions') return path.split('/').slice(0, 2).join('/');
  if (layer === 'contracts') return path.split('/')[0] ?? path;
  if (layer === 'core' || layer === 'aws') return path.split('/').slice(0, 2).join('/');
  return layer;
}

const MAY_IMPORT: Readonly<Record<Layer, readonly Layer[]>> = {
  contracts: ['contracts'],
  core: ['contracts', 'core'],
  aws: ['contracts', 'core', 'aws'],
  functions: ['contracts', 'core', 'aws', 'functions'],
  // The infrastructure names handlers by entry path (bundled, or loaded by the local runner), never by import.
  infra: ['contracts', 'core', 'aws', 'infra'],
  outside: ['contracts', 'core', 'aws', 'functions', 'infra', 'outside'],
};

/** Every rule an edge breaks (none for a well-layered edge). */
export function violationsOf(edge: ImportEdge): LayerViolation[] {
  if (edge.to === null) return [];
  const from = layerOf(edge.from);
  const to = layerOf(edge.to);
  const found: LayerViolation[] = [];
  if (!MAY_IMPORT[from].includes(to)) {
    found.push({ edge, rule: `${from} may import only ${MAY_IMPORT[from].join(', ')}; not ${to}` });
  }
  if (from === 'functions' && to === 'functions' && areaOf(edge.from) !== areaOf(edge.to)) {
    found.push({
      edge,
      rule: `a handler folder may not import another (${areaOf(edge.from)} → ${areaOf(edge.to)}): share through layers/ or contracts/`,
    });
  }
  if (edge.specifier.startsWith('.') && from !== 'outside' && areaOf(edge.from) !== areaOf(edge.to)) {
    found.push({ edge, rule: `a relative import may not leave ${areaOf(edge.from)}: use a # alias` });
  }
  return found;
}

const IMPORT_SPECIFIER =
  /(?:^|[\s;])(?:import|export)\s[^'"`;]*?\sfrom\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;

/** The specifiers a TypeScript source imports (static, side-effect, re-export and literal dynamic imports). */
export function specifiersOf(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(IMPORT_SPECIFIER)) {
    const specifier = match[1] ?? match[2] ?? match[3];
    if (specifier !== undefined) found.push(specifier);
  }
  return found;
}

/** The repository path a specifier names, or `null` for a package. */
export function resolveSpecifier(from: string, specifier: string): string | null {
  for (const [alias, folder] of Object.entries(ALIASES)) {
    if (specifier.startsWith(alias)) return folder + specifier.slice(alias.length);
  }
  if (specifier.startsWith('#')) throw new Error(`${from}: unknown import alias in '${specifier}'`);
  if (!specifier.startsWith('.')) return null;
  return posix.normalize(posix.join(posix.dirname(from), specifier));
}

function listSources(root: string, folder: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(join(root, folder), { withFileTypes: true })) {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'cdk.out') files.push(...listSources(root, path));
    } else if (entry.name.endsWith('.ts')) {
      files.push(path);
    }
  }
  return files;
}

/** Every import edge of the layered folders under `root`. */
export function importGraph(root: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const folder of LAYERED_ROOTS) {
    for (const from of listSources(root, folder)) {
      const source = readFileSync(join(root, from), 'utf8');
      for (const specifier of specifiersOf(source)) {
        edges.push({ from, specifier, to: resolveSpecifier(from, specifier) });
      }
    }
  }
  return edges;
}
