import {
  type ComprehendClient,
  DetectPiiEntitiesCommand,
  type LanguageCode,
} from '@aws-sdk/client-comprehend';

/**
 * Optional second pass of PII redaction with Amazon Comprehend (enabled per profile), for what patterns
 * cannot find: names, addresses, dates of birth. Runs after the regex pass, on a record's text fields,
 * and replaces each entity with a typed placeholder such as `[NAME]`, counted under `COMPREHEND_<TYPE>`.
 */
const MAX_TEXT_BYTES = 100_000; // DetectPiiEntities accepts up to 100 KB of UTF-8 per request.
/**
 * Keys that hold ids, roles, labels or metadata, never free text: a counterfactual's `group` and a
 * turn's `name` are labels (two groups redacted to one placeholder would merge a bias probe's variants).
 */
const SKIP_KEYS = new Set([
  'role',
  'id',
  'source',
  'metadata',
  'tags',
  'reference_context_ids',
  'group',
  'name',
]);

export class ComprehendRedactor {
  constructor(
    private readonly client: ComprehendClient,
    private readonly options: { languageCode?: LanguageCode; minScore?: number } = {},
  ) {}

  /** Redacts one text; counts are accumulated into `counts`. */
  async redactText(text: string, counts: Record<string, number>): Promise<string> {
    if (text.trim().length === 0) return text;
    if (Buffer.byteLength(text, 'utf8') > MAX_TEXT_BYTES) {
      // Split on a paragraph boundary near the middle and redact each half.
      const middle = text.lastIndexOf('\n', Math.floor(text.length / 2));
      const cut = middle > 0 ? middle : Math.floor(text.length / 2);
      return (
        (await this.redactText(text.slice(0, cut), counts)) + (await this.redactText(text.slice(cut), counts))
      );
    }
    const result = await this.client.send(
      new DetectPiiEntitiesCommand({ Text: text, LanguageCode: this.options.languageCode ?? 'en' }),
    );
    const entities = (result.Entities ?? [])
      .filter((e) => (e.Score ?? 0) >= (this.options.minScore ?? 0.8))
      .filter((e) => e.BeginOffset !== undefined && e.EndOffset !== undefined)
      .sort((a, b) => (b.BeginOffset ?? 0) - (a.BeginOffset ?? 0));
    let out = text;
    let lastBegin = Number.POSITIVE_INFINITY;
    for (const entity of entities) {
      const begin = entity.BeginOffset ?? 0;
      const end = entity.EndOffset ?? 0;
      if (end > lastBegin) continue; // overlapping entity: the later one already replaced this span
      const type = entity.Type ?? 'PII';
      out = `${out.slice(0, begin)}[${type}]${out.slice(end)}`;
      lastBegin = begin;
      counts[`COMPREHEND_${type}`] = (counts[`COMPREHEND_${type}`] ?? 0) + 1;
    }
    return out;
  }

  /** Redacts every text field of a record in place (keys that hold ids, roles or metadata are skipped). */
  async redactRecord(record: Record<string, unknown>, counts: Record<string, number>): Promise<void> {
    const visit = async (value: unknown): Promise<unknown> => {
      if (typeof value === 'string') {
        // Placeholders from the regex pass are left as they are.
        return this.redactText(value, counts);
      }
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) value[i] = await visit(value[i]);
        return value;
      }
      if (value && typeof value === 'object') {
        const object = value as Record<string, unknown>;
        for (const key of Object.keys(object)) {
          if (!SKIP_KEYS.has(key)) object[key] = await visit(object[key]);
        }
        return object;
      }
      return value;
    };
    await visit(record);
  }
}
