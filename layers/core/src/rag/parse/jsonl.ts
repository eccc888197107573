import { formatZodIssues, ragRecordSchema } from '../../dataprep/records.ts';
import { InvalidRecordError, type ParsedDocument } from './document.ts';

/** JSONL: the curated `rag` records of the data-prep pipeline, one document per line. */

export function parseJsonl(key: string, text: string): ParsedDocument[] {
  const docs: ParsedDocument[] = [];
  const seen = new Map<string, number>();
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const lineNumber = i + 1;
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new InvalidRecordError(key, lineNumber, `not valid JSON (${(error as Error).message})`, {
        cause: error,
      });
    }
    const parsed = ragRecordSchema.safeParse(value);
    if (!parsed.success) {
      throw new InvalidRecordError(key, lineNumber, formatZodIssues(parsed.error), { cause: parsed.error });
    }
    const record = parsed.data;
    const id = record.id ?? `${key}#${lineNumber}`;
    const first = seen.get(id);
    if (first !== undefined) {
      throw new InvalidRecordError(key, lineNumber, `duplicate id "${id}" (first on line ${first})`);
    }
    seen.set(id, lineNumber);
    const doc: ParsedDocument = {
      id,
      text: record.text,
      format: 'text',
      source: record.source ?? key,
      metadata: { ...(record.metadata ?? {}) },
    };
    if (record.title !== undefined && record.title.trim() !== '') doc.title = record.title;
    docs.push(doc);
  });
  return docs;
}
