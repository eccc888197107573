import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type DocumentMetadata,
  DocumentParseError,
  EncryptedDocumentError,
  fileTitle,
  type ParsedDocument,
} from './document.ts';
import { normalizeNewlines } from './utf8.ts';

/**
 * PDF: the text page by page, each page's offsets kept so that chunks can cite their page.
 *
 * The parser (unpdf, with its serverless build of pdf.js: about 1.6 MB of JavaScript) is loaded on the
 * first PDF, not at module load, so that a function that handles other files (or plans, or reports)
 * never parses it at cold start:
 * - in a Lambda bundle, from {@link PDF_PARSER_FILE} beside the bundle (unpdf bundled into one ESM file,
 *   written at bundling time by `LlmOpsFunction` into every bundle that contains this module);
 * - in source runs (tests, the local runner, benchmarks), from the installed package.
 */

/** The PDF parser's module that a bundle carries beside its `index.mjs`; the name also marks bundles that need it. */
export const PDF_PARSER_FILE = 'unpdf.bundle.mjs';

/** The package that {@link PDF_PARSER_FILE} bundles. */
export const PDF_PARSER_PACKAGE = 'unpdf';

type Unpdf = typeof import('unpdf');

let unpdf: Promise<Unpdf> | undefined;

/**
 * unpdf: from {@link PDF_PARSER_FILE} in the folder of `moduleUrl` (a bundle's), else the installed
 * package. The specifier is a variable so that bundlers leave the package out of the bundle.
 */
export function loadPdfParser(moduleUrl: string = import.meta.url): Promise<Unpdf> {
  if (moduleUrl !== import.meta.url) return importPdfParser(moduleUrl);
  unpdf ??= importPdfParser(moduleUrl);
  return unpdf;
}

async function importPdfParser(moduleUrl: string): Promise<Unpdf> {
  const beside = new URL(PDF_PARSER_FILE, moduleUrl);
  const specifier: string = existsSync(fileURLToPath(beside)) ? beside.href : PDF_PARSER_PACKAGE;
  return (await import(specifier)) as Unpdf;
}

/** A page's extracted text: `\n` line breaks, no blanks at line ends, trimmed. */
export function cleanPageText(raw: string): string {
  // The look-behind tries a run of blanks from its start only: retrying from inside a run that no `\n`
  // follows (as `/[ \t]+\n/g` does) is quadratic in the run's length.
  return normalizeNewlines(raw)
    .replace(/(?<![ \t])[ \t]+\n/g, '\n')
    .trim();
}

export async function parsePdf(key: string, bytes: Uint8Array): Promise<ParsedDocument> {
  const { extractText, getDocumentProxy, getMeta } = await loadPdfParser();
  let pdf: Awaited<ReturnType<Unpdf['getDocumentProxy']>>;
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
      const pageText = cleanPageText(raw);
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
