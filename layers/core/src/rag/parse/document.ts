import { LlmOpsError } from '../../errors.ts';

/** What a parser produces, the named parse errors, and the file-name helpers every parser shares. */
export type DocumentMetadata = Record<string, string | number | boolean | null>;

export interface ParsedDocument {
  /** The key for single-document files; the record's id (or `${key}#${line}`) for JSONL. */
  id: string;
  title?: string;
  text: string;
  format: 'markdown' | 'text';
  /** Where the document came from: the key, or a JSONL record's own `source`. */
  source?: string;
  metadata: DocumentMetadata;
  /** PDF only: UTF-16 offsets of each page's text in `text` (`end` exclusive); pages are numbered from 1. */
  pages?: { page: number; start: number; end: number }[];
}

export interface ParseInput {
  /** S3 key or file name; its extension picks the parser. */
  key: string;
  bytes: Uint8Array;
  /** Used only when the key has no extension. */
  contentType?: string;
}

export const SUPPORTED_EXTENSIONS = ['md', 'markdown', 'txt', 'html', 'htm', 'pdf', 'jsonl'] as const;
export type DocumentType = (typeof SUPPORTED_EXTENSIONS)[number];

/** The file cannot be turned into documents (corrupt, no text, bad record). Not retried. */
export class DocumentParseError extends LlmOpsError {
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super(`${key}: ${message}`, { ...options, expose: true });
    this.key = key;
  }
}

/** The PDF is password-protected. */
export class EncryptedDocumentError extends DocumentParseError {}

/** A text format holds bytes that are not UTF-8; `offset` is the byte offset of the first bad sequence. */
export class InvalidUtf8Error extends DocumentParseError {
  readonly offset: number;
  constructor(key: string, offset: number, options?: { cause?: unknown }) {
    super(key, `invalid UTF-8 at byte offset ${offset}`, options);
    this.offset = offset;
  }
}

/** A JSONL line is not a valid `rag` record; `line` is 1-based. */
export class InvalidRecordError extends DocumentParseError {
  readonly line: number;
  constructor(key: string, line: number, rule: string, options?: { cause?: unknown }) {
    super(key, `line ${line}: ${rule}`, options);
    this.line = line;
  }
}

export function baseName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

export function extensionOf(key: string): string | undefined {
  const name = baseName(key);
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? undefined : name.slice(dot + 1).toLowerCase();
}

/** The file name without directory or extension: the fallback title. */
export function fileTitle(key: string): string {
  const name = baseName(key);
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? name : name.slice(0, dot);
}
