import { plainHeading } from '../chunk.ts';
import { type DocumentMetadata, fileTitle, type ParsedDocument } from './document.ts';

/** Markdown and plain text: the first H1 as the title, YAML-like front matter (flat scalars) as metadata. */

export const FENCE_LINE = /^ {0,3}(`{3,}|~{3,})/;
export const H1_LINE = /^ {0,3}#[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/;

export function parseMarkdown(key: string, decoded: string): ParsedDocument {
  const { metadata, body } = splitFrontMatter(decoded);
  const fmTitle = metadata.title;
  const title =
    typeof fmTitle === 'string' && fmTitle.trim() !== '' ? fmTitle.trim() : (firstH1(body) ?? fileTitle(key));
  return { id: key, title, text: body, format: 'markdown', source: key, metadata };
}

export function parsePlainText(key: string, text: string): ParsedDocument {
  return { id: key, title: fileTitle(key), text, format: 'text', source: key, metadata: {} };
}

/** The first level-1 ATX heading outside fenced code, without its markers. */
export function firstH1(text: string): string | undefined {
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

export const FRONT_MATTER_KEY = /^([A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]+(.*))?$/;

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
export function parseYamlScalar(raw: string): string | number | boolean | null | undefined {
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

export function closingDoubleQuote(value: string): number {
  for (let i = 1; i < value.length; i++) {
    if (value[i] === '\\') i++;
    else if (value[i] === '"') return i;
  }
  return -1;
}
