/**
 * Types for the module of `@opensearch-project/opensearch` (3.9.0) that `opensearch/client.ts` imports by
 * path. Its own `lib/Serializer.d.ts` declares `export default class Serializer`, but the file is CommonJS
 * (`module.exports = Serializer`), so under NodeNext TypeScript types the default import as the module
 * object, while Node and esbuild give the class. This declaration takes precedence over that file and
 * gives the default import the class type the package exports from its main entry.
 */
declare module '@opensearch-project/opensearch/lib/Serializer.js' {
  import type { Serializer } from '@opensearch-project/opensearch';

  const SerializerClass: typeof Serializer;
  export default SerializerClass;
}
