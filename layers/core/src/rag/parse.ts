/**
 * Turns an uploaded file into the documents that `chunk.ts` cuts (no AWS imports).
 *
 * The key's extension picks the parser (the content type is only consulted when the key has none):
 * Markdown (front matter into metadata), plain text, HTML (converted to Markdown so headings survive as
 * sections), PDF (text page by page, with each page's offsets) and JSONL (the curated `rag` records of
 * the data-prep pipeline, one document per line). Single-document files take the key as their id, so
 * re-ingesting a file replaces its old chunks.
 */
import { ValidationError } from '../errors.ts';
import {
  type DocumentType,
  extensionOf,
  type ParsedDocument,
  type ParseInput,
  SUPPORTED_EXTENSIONS,
} from './parse/document.ts';
import { parseHtmlDocument } from './parse/html.ts';
import { parseJsonl } from './parse/jsonl.ts';
import { parseMarkdown, parsePlainText } from './parse/markdown.ts';
import { parsePdf } from './parse/pdf.ts';
import { decodeUtf8 } from './parse/utf8.ts';

const CONTENT_TYPES: Readonly<Record<string, DocumentType>> = {
  'text/markdown': 'md',
  'text/x-markdown': 'md',
  'text/plain': 'txt',
  'text/html': 'html',
  'application/xhtml+xml': 'html',
  'application/pdf': 'pdf',
  'application/jsonl': 'jsonl',
  'application/x-ndjson': 'jsonl',
  'application/x-jsonlines': 'jsonl',
};

/** Parses one uploaded file into the documents it holds (one, or one per JSONL line). */
export async function parseDocument(input: ParseInput): Promise<ParsedDocument[]> {
  const { key, bytes } = input;
  const type = documentType(key, input.contentType);
  switch (type) {
    case 'md':
    case 'markdown':
      return [parseMarkdown(key, decodeUtf8(key, bytes))];
    case 'txt':
      return [parsePlainText(key, decodeUtf8(key, bytes))];
    case 'html':
    case 'htm':
      return [parseHtmlDocument(key, decodeUtf8(key, bytes))];
    case 'pdf':
      return [await parsePdf(key, bytes)];
    case 'jsonl':
      return parseJsonl(key, decodeUtf8(key, bytes));
  }
}

/** The parser for `key` (its lower-cased extension, else the content type); a ValidationError otherwise. */
export function documentType(key: string, contentType?: string): DocumentType {
  const ext = extensionOf(key);
  if (ext === undefined && contentType !== undefined) {
    const byType = CONTENT_TYPES[contentType.split(';')[0]?.trim().toLowerCase() ?? ''];
    if (byType !== undefined) return byType;
  }
  if (ext !== undefined && (SUPPORTED_EXTENSIONS as readonly string[]).includes(ext))
    return ext as DocumentType;
  const expected = 'expected md, markdown, txt, html, htm, pdf or jsonl';
  const found = ext === undefined ? '(no extension)' : `".${ext}"`;
  throw new ValidationError('key', `unsupported document type ${found}; ${expected}`);
}
