/**
 * Turns an uploaded file into the documents that `chunk.ts` cuts (no AWS imports).
 *
 * The key's extension picks the parser (the content type is only consulted when the key has none):
 * Markdown (front matter into metadata), plain text, HTML (converted to Markdown so headings survive as
 * sections), PDF (text page by page, with each page's offsets) and JSONL (the curated `rag` records of
 * the data-prep pipeline, one document per line). Single-document files take the key as their id, so
 * re-ingesting a file replaces its old chunks.
 */
import type { AnyNode, Element } from 'domhandler';
import { parseDocument as parseHtml } from 'htmlparser2';
import { extractText, getDocumentProxy, getMeta } from 'unpdf';
import { formatZodIssues, ragRecordSchema } from '../dataprep/records.ts';
import { LlmOpsError, ValidationError } from '../errors.ts';
import { plainHeading } from './chunk.ts';

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

function baseName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

function extensionOf(key: string): string | undefined {
  const name = baseName(key);
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? undefined : name.slice(dot + 1).toLowerCase();
}

/** The file name without directory or extension: the fallback title. */
function fileTitle(key: string): string {
  const name = baseName(key);
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? name : name.slice(0, dot);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Strict UTF-8 decoding (a leading BOM is dropped) with line endings normalized to `\n`. */
export function decodeUtf8(key: string, bytes: Uint8Array): string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (error) {
    throw new InvalidUtf8Error(key, invalidUtf8Offset(bytes), { cause: error });
  }
  return normalizeNewlines(text);
}

function normalizeNewlines(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

/** Byte offset of the first ill-formed UTF-8 sequence (Unicode Table 3-7), or `bytes.length` if none. */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    if (b < 0x80) {
      i += 1;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined) return i;
      const min = k === 1 ? lo : 0x80;
      const max = k === 1 ? hi : 0xbf;
      if (c < min || c > max) return i;
    }
    i += need + 1;
  }
  return i;
}

// ---------------------------------------------------------------------------------------------------
// Markdown and plain text

const FENCE_LINE = /^ {0,3}(`{3,}|~{3,})/;
const H1_LINE = /^ {0,3}#[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/;

function parseMarkdown(key: string, decoded: string): ParsedDocument {
  const { metadata, body } = splitFrontMatter(decoded);
  const fmTitle = metadata.title;
  const title =
    typeof fmTitle === 'string' && fmTitle.trim() !== '' ? fmTitle.trim() : (firstH1(body) ?? fileTitle(key));
  return { id: key, title, text: body, format: 'markdown', source: key, metadata };
}

function parsePlainText(key: string, text: string): ParsedDocument {
  return { id: key, title: fileTitle(key), text, format: 'text', source: key, metadata: {} };
}

/** The first level-1 ATX heading outside fenced code, without its markers. */
function firstH1(text: string): string | undefined {
  let fence: string | undefined;
  for (const line of text.split('\n')) {
    const f = FENCE_LINE.exec(line)?.[1];
    if (fence !== undefined) {
      if (f !== undefined && f[0] === fence[0] && f.length >= fence.length && line.trim() === f)
        fence = undefined;
      continue;
    }
    if (f !== undefined) {
      fence = f;
      continue;
    }
    const h = plainHeading(H1_LINE.exec(line)?.[1] ?? '');
    if (h) return h;
  }
  return undefined;
}

const FRONT_MATTER_KEY = /^([A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]+(.*))?$/;

/**
 * Splits YAML front matter (`---` on the first line up to a `---` or `...` line) from the body. Only flat
 * `key: scalar` entries are kept; nested maps, lists and block scalars are skipped.
 */
export function splitFrontMatter(text: string): { metadata: DocumentMetadata; body: string } {
  const metadata: DocumentMetadata = {};
  if (!/^---[ \t]*\n/.test(text)) return { metadata, body: text };
  const lines = text.split('\n');
  let close = -1;
  for (let i = 1; i < lines.length; i++) {
    if (/^(?:---|\.\.\.)[ \t]*$/.test(lines[i] ?? '')) {
      close = i;
      break;
    }
  }
  if (close === -1) return { metadata, body: text };
  for (const line of lines.slice(1, close)) {
    const m = FRONT_MATTER_KEY.exec(line);
    if (m === null) continue;
    const value = parseYamlScalar(m[2] ?? '');
    if (value !== undefined) metadata[m[1] ?? ''] = value;
  }
  const body = lines
    .slice(close + 1)
    .join('\n')
    .replace(/^\n+/, '');
  return { metadata, body };
}

/** A YAML 1.2 core-schema scalar; undefined for what is not a flat scalar (maps, lists, block scalars). */
function parseYamlScalar(raw: string): string | number | boolean | null | undefined {
  const value = raw.trim();
  if (value === '') return undefined;
  if (value.startsWith('"')) {
    const end = closingDoubleQuote(value);
    if (end === -1) return undefined;
    try {
      return JSON.parse(value.slice(0, end + 1)) as string;
    } catch {
      return value.slice(1, end);
    }
  }
  if (value.startsWith("'")) {
    const m = /^'((?:[^']|'')*)'/.exec(value);
    return m === null ? undefined : (m[1] ?? '').replace(/''/g, "'");
  }
  if (/^[[{|>&*!%@`]/.test(value)) return undefined;
  const plain = value.replace(/[ \t]+#.*$/, '');
  if (/^(?:null|Null|NULL|~)$/.test(plain)) return null;
  if (/^(?:true|True|TRUE)$/.test(plain)) return true;
  if (/^(?:false|False|FALSE)$/.test(plain)) return false;
  if (/^[-+]?(?:\d+|\d*\.\d+|\d+\.\d*)(?:[eE][-+]?\d+)?$/.test(plain)) {
    const n = Number(plain);
    if (Number.isFinite(n) && (!/^[-+]?\d+$/.test(plain) || Number.isSafeInteger(n))) return n;
  }
  return plain;
}

function closingDoubleQuote(value: string): number {
  for (let i = 1; i < value.length; i++) {
    if (value[i] === '\\') i++;
    else if (value[i] === '"') return i;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------------
// HTML

/** Elements whose content is never part of the document's text. */
const DROPPED = new Set([
  'script',
  'style',
  'noscript',
  'template',
  'nav',
  'header',
  'footer',
  'aside',
  'head',
  'svg',
  'iframe',
  'canvas',
  'object',
  'button',
  'select',
  'dialog',
]);

/** Elements that start a new block; everything else is rendered inline. */
const BLOCKS = new Set([
  'address',
  'article',
  'blockquote',
  'body',
  'dd',
  'details',
  'div',
  'dl',
  'dt',
  'fieldset',
  'figcaption',
  'figure',
  'form',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'hr',
  'html',
  'li',
  'main',
  'ol',
  'p',
  'pre',
  'section',
  'summary',
  'table',
  'tbody',
  'td',
  'tfoot',
  'th',
  'thead',
  'tr',
  'ul',
]);

function parseHtmlDocument(key: string, html: string): ParsedDocument {
  const dom = parseHtml(html, { decodeEntities: true, lowerCaseTags: true });
  const titleEl = findElement(dom.children, (el) => el.name === 'title');
  const h1 = findElement(dom.children, (el) => el.name === 'h1' && !hasDroppedAncestor(el));
  const candidates = [titleEl, h1].map((el) => (el === undefined ? '' : collapse(textOf(el)).trim()));
  const title = candidates.find((t) => t !== '') ?? fileTitle(key);
  const text = htmlToMarkdown(html, dom.children);
  return { id: key, title, text, format: 'markdown', source: key, metadata: {} };
}

/**
 * Converts HTML to Markdown: ATX headings, paragraphs, nested lists, fenced code blocks, block quotes
 * and pipe tables; links become their text; scripts, styles and page chrome (nav, header, footer,
 * aside) are dropped; entities are decoded.
 */
export function htmlToMarkdown(html: string, nodes?: AnyNode[]): string {
  const children = nodes ?? parseHtml(html, { decodeEntities: true, lowerCaseTags: true }).children;
  return renderBlocks(children).join('\n\n');
}

function isElement(node: AnyNode): node is Element {
  return node.type === 'tag' || node.type === 'script' || node.type === 'style';
}

function findElement(nodes: readonly AnyNode[], test: (el: Element) => boolean): Element | undefined {
  for (const node of nodes) {
    if (!isElement(node)) continue;
    if (test(node)) return node;
    const found = findElement(node.children, test);
    if (found !== undefined) return found;
  }
  return undefined;
}

function hasDroppedAncestor(el: Element): boolean {
  for (let p = el.parent; p !== null; p = p.parent) if (isElement(p) && DROPPED.has(p.name)) return true;
  return false;
}

/** The raw text content of a node (no whitespace collapsing). */
function textOf(node: AnyNode): string {
  if (node.type === 'text' || node.type === 'cdata') {
    return 'data' in node && typeof node.data === 'string' ? node.data : childrenText(node);
  }
  if (isElement(node)) return node.name === 'br' ? '\n' : childrenText(node);
  return '';
}

function childrenText(node: AnyNode): string {
  return 'children' in node ? node.children.map(textOf).join('') : '';
}

function collapse(text: string): string {
  return text.replace(/[ \t\n\r\f\v]+/g, ' ');
}

/** Renders a list of nodes in block context: runs of inline nodes become paragraphs. */
function renderBlocks(nodes: readonly AnyNode[]): string[] {
  const out: string[] = [];
  let run: AnyNode[] = [];
  const flush = (): void => {
    const para = paragraph(renderInline(run));
    if (para !== '') out.push(para);
    run = [];
  };
  for (const node of nodes) {
    if (isElement(node) && DROPPED.has(node.name)) continue;
    if (isElement(node) && BLOCKS.has(node.name)) {
      flush();
      out.push(...renderBlock(node));
    } else run.push(node);
  }
  flush();
  return out;
}

function renderBlock(el: Element): string[] {
  const name = el.name;
  const heading = /^h([1-6])$/.exec(name)?.[1];
  if (heading !== undefined) {
    const text = oneLine(renderInline(el.children));
    return text === '' ? [] : [`${'#'.repeat(Number(heading))} ${text}`];
  }
  switch (name) {
    case 'p': {
      const para = paragraph(renderInline(el.children));
      return para === '' ? [] : [para];
    }
    case 'pre':
      return [codeBlock(el)];
    case 'ul':
    case 'ol': {
      const list = renderList(el);
      return list === '' ? [] : [list];
    }
    case 'blockquote': {
      const inner = renderBlocks(el.children).join('\n\n');
      return inner === '' ? [] : [inner.replace(/^/gm, '> ').replace(/^> $/gm, '>')];
    }
    case 'table': {
      const table = renderTable(el);
      return table === '' ? [] : [table];
    }
    case 'hr':
      return ['---'];
    default:
      return renderBlocks(el.children);
  }
}

function codeBlock(pre: Element): string {
  const code = pre.children.find((c): c is Element => isElement(c) && c.name === 'code');
  const classes = `${pre.attribs.class ?? ''} ${code?.attribs.class ?? ''}`;
  const lang = /(?:^|\s)(?:language|lang)-([\w+#.-]+)/.exec(classes)?.[1] ?? '';
  const body = textOf(pre).replace(/^\n/, '').replace(/\s+$/, '');
  const longest = Math.max(0, ...(body.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${lang}\n${body}\n${fence}`;
}

function renderList(list: Element): string {
  const ordered = list.name === 'ol';
  let n = Number.parseInt(list.attribs.start ?? '1', 10);
  if (!Number.isFinite(n)) n = 1;
  const items: string[] = [];
  for (const child of list.children) {
    if (!isElement(child) || DROPPED.has(child.name)) continue;
    const nodes = child.name === 'li' ? child.children : [child];
    const body = renderBlocks(nodes).join('\n');
    if (body === '') continue;
    const marker = ordered ? `${n++}. ` : '- ';
    const pad = ' '.repeat(marker.length);
    items.push(marker + body.replace(/\n(?!$)/g, `\n${pad}`).replace(/\n\s+\n/g, '\n\n'));
  }
  return items.join('\n');
}

function renderTable(table: Element): string {
  const rows: string[][] = [];
  const collectRows = (nodes: readonly AnyNode[]): void => {
    for (const node of nodes) {
      if (!isElement(node)) continue;
      if (node.name === 'tr') {
        const cells = node.children
          .filter((c): c is Element => isElement(c) && (c.name === 'td' || c.name === 'th'))
          .map((c) => oneLine(renderBlocks(c.children).join(' ')).replace(/\|/g, '\\|'));
        if (cells.length > 0) rows.push(cells);
      } else if (node.name !== 'table') collectRows(node.children);
    }
  };
  collectRows(table.children);
  const caption = findElement(table.children, (el) => el.name === 'caption');
  const header = rows[0];
  if (header === undefined) return '';
  const width = Math.max(...rows.map((r) => r.length));
  const line = (cells: string[]): string =>
    `| ${Array.from({ length: width }, (_, i) => cells[i] ?? '').join(' | ')} |`;
  const lines = [line(header), `| ${Array.from({ length: width }, () => '---').join(' | ')} |`];
  for (const row of rows.slice(1)) lines.push(line(row));
  const captionText = caption === undefined ? '' : oneLine(collapse(textOf(caption)));
  return captionText === '' ? lines.join('\n') : `${captionText}\n\n${lines.join('\n')}`;
}

/** Inline rendering: collapsed whitespace, `\n` for <br>, emphasis and inline code kept, links as text. */
function renderInline(nodes: readonly AnyNode[]): string {
  let out = '';
  for (const node of nodes) {
    if (node.type === 'text') {
      out += collapse('data' in node && typeof node.data === 'string' ? node.data : '');
      continue;
    }
    if (!isElement(node) || DROPPED.has(node.name)) continue;
    switch (node.name) {
      case 'br':
        out += '\n';
        break;
      case 'img': {
        const alt = node.attribs.alt?.trim();
        if (alt) out += alt;
        break;
      }
      case 'code':
      case 'kbd':
      case 'samp': {
        const code = collapse(textOf(node));
        if (code.trim() === '') break;
        const ticks = '`'.repeat(Math.max(1, ...(code.match(/`+/g) ?? []).map((r) => r.length + 1)));
        const pad = code.startsWith('`') || code.endsWith('`') ? ' ' : '';
        out += `${ticks}${pad}${code}${pad}${ticks}`;
        break;
      }
      case 'strong':
      case 'b':
        out += wrap(renderInline(node.children), '**');
        break;
      case 'em':
      case 'i':
        out += wrap(renderInline(node.children), '_');
        break;
      default:
        out += BLOCKS.has(node.name)
          ? ` ${renderBlocks(node.children).join(' ')} `
          : renderInline(node.children);
    }
  }
  return out;
}

function wrap(text: string, mark: string): string {
  const inner = text.trim();
  if (inner === '') return text;
  const lead = text.startsWith(' ') ? ' ' : '';
  const trail = text.endsWith(' ') ? ' ' : '';
  return `${lead}${mark}${inner}${mark}${trail}`;
}

function oneLine(text: string): string {
  return collapse(text).trim();
}

/** Trims each line and escapes line starts that Markdown would read as structure (headings, fences, ...). */
function paragraph(text: string): string {
  return text
    .split('\n')
    .map((line) => escapeLineStart(line.trim()))
    .filter((line, i, all) => line !== '' || (i > 0 && i < all.length - 1))
    .join('\n')
    .trim();
}

function escapeLineStart(line: string): string {
  if (/^(?:#{1,6}(?:\s|$)|>|[-+*](?:\s|$)|`{3,}|~{3,}|=+\s*$|-{3,}\s*$)/.test(line)) return `\\${line}`;
  return line.replace(/^(\d+)([.)])(?=\s|$)/, '$1\\$2');
}

// ---------------------------------------------------------------------------------------------------
// PDF

async function parsePdf(key: string, bytes: Uint8Array): Promise<ParsedDocument> {
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    pdf = await getDocumentProxy(new Uint8Array(bytes), { verbosity: 0 });
  } catch (error) {
    if (error instanceof Error && error.name === 'PasswordException') {
      throw new EncryptedDocumentError(key, 'the PDF is encrypted (password-protected)', { cause: error });
    }
    throw new DocumentParseError(key, 'not a readable PDF (corrupt or truncated)', { cause: error });
  }
  try {
    const [{ text: pageTexts, totalPages }, meta] = await Promise.all([
      extractText(pdf, { mergePages: false }),
      getMeta(pdf).catch(() => undefined),
    ]);
    const pages: { page: number; start: number; end: number }[] = [];
    let text = '';
    pageTexts.forEach((raw, i) => {
      const pageText = normalizeNewlines(raw)
        .replace(/[ \t]+\n/g, '\n')
        .trim();
      if (text !== '' && pageText !== '') text += '\n\n';
      pages.push({ page: i + 1, start: text.length, end: text.length + pageText.length });
      text += pageText;
    });
    if (text.trim() === '') {
      throw new DocumentParseError(key, 'the PDF has no extractable text (scanned images need OCR first)');
    }
    const info = (meta?.info ?? {}) as Record<string, unknown>;
    const metadata: DocumentMetadata = { pageCount: totalPages };
    for (const [from, to] of [
      ['Author', 'author'],
      ['Subject', 'subject'],
      ['Keywords', 'keywords'],
    ] as const) {
      const value = info[from];
      if (typeof value === 'string' && value.trim() !== '') metadata[to] = value.trim();
    }
    const infoTitle = typeof info.Title === 'string' ? info.Title.trim() : '';
    const title = infoTitle !== '' ? infoTitle : fileTitle(key);
    return { id: key, title, text, format: 'text', source: key, metadata, pages };
  } catch (error) {
    if (error instanceof DocumentParseError) throw error;
    throw new DocumentParseError(key, 'text extraction failed (corrupt PDF)', { cause: error });
  } finally {
    await pdf.loadingTask.destroy().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------------
// JSONL

function parseJsonl(key: string, text: string): ParsedDocument[] {
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
