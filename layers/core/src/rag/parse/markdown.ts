import { atxHeading, plainHeading } from '../chunk.ts';
import { type DocumentMetadata, fileTitle, type ParsedDocument } from './document.ts';

/** Markdown and plain text: the first H1 as the title, YAML-like front matter (flat scalars) as metadata. */

export const FENCE_LINE = /^ {0,3}(`{3,}|~{3,})/;

/**
 * The text of a level-1 ATX heading line (what `/^ {0,3}#[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/` captures),
 * undefined for other lines; linear in the line's length where that regex is quadratic.
 */
export function h1Text(line: string): string | undefined {
  const heading = atxHeading(line);
  return heading?.level === 1 ? heading.text : undefined;
}

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
    const h = plainHeading(h1Text(line) ?? '');
    if (h) return h;
  }
  return undefined;
}

/**
 * `key: value`. The look-ahead keeps the blanks after the colon from giving back characters when the
 * value cannot match (a `\r` in it), which would rescan the value once per blank.
 */
export const FRONT_MATTER_KEY = /^([A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]+(?![ \t])(.*))?$/;

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
    const quoted = singleQuoted(value);
    return quoted === undefined ? undefined : quoted.replace(/''/g, "'");
  }
  if (/^[[{|>&*!%@`]/.test(value)) return undefined;
  const plain = withoutComment(value);
  if (/^(?:null|Null|NULL|~)$/.test(plain)) return null;
  if (/^(?:true|True|TRUE)$/.test(plain)) return true;
  if (/^(?:false|False|FALSE)$/.test(plain)) return false;
  if (/^[-+]?(?:\d+|\d*\.\d+|\d+\.\d*)(?:[eE][-+]?\d+)?$/.test(plain)) {
    const n = Number(plain);
    if (Number.isFinite(n) && (!/^[-+]?\d+$/.test(plain) || Number.isSafeInteger(n))) return n;
  }
  return plain;
}

/**
 * The body of a single-quoted scalar at the start of `value` (`''` still doubled), or undefined; what
 * `/^'((?:[^']|'')*)'/` captures, without the regex's backtracking stack (which overflows on a few MB).
 * With no lone closing quote the regex gives back its last `''` and ends there, and so does this.
 */
export function singleQuoted(value: string): string | undefined {
  let lastPair = -1;
  let i = 1;
  while (i < value.length) {
    if (value.charCodeAt(i) === 0x27) {
      if (value.charCodeAt(i + 1) !== 0x27) return value.slice(1, i);
      lastPair = i;
      i += 2;
    } else i++;
  }
  return lastPair === -1 ? undefined : value.slice(1, lastPair);
}

/**
 * `value` without a trailing comment: what `value.replace(/[ \t]+#.*$/, '')` returns, in linear time
 * (the regex rescans each run of blanks from every position in it). The comment starts at the first
 * blank-then-`#` after the last line terminator (`.` matches none), and takes the blanks before it.
 */
export function withoutComment(value: string): string {
  let from = 0;
  for (let i = value.length - 1; i >= 0; i--) {
    const c = value.charCodeAt(i);
    if (c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029) {
      from = i + 1;
      break;
    }
  }
  for (let i = value.indexOf('#', from + 1); i >= 0; i = value.indexOf('#', i + 1)) {
    if (!isBlank(value.charCodeAt(i - 1))) continue;
    let start = i - 1;
    while (start > from && isBlank(value.charCodeAt(start - 1))) start--;
    return value.slice(0, start);
  }
  return value;
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

export function closingDoubleQuote(value: string): number {
  for (let i = 1; i < value.length; i++) {
    if (value[i] === '\\') i++;
    else if (value[i] === '"') return i;
  }
  return -1;
}
