/**
 * Turns the EMF documents the functions print into local metric datapoints while a local run is up, the
 * way CloudWatch Logs extracts EMF from a Lambda function's stdout.
 *
 * Two things happen between `captureEmf()` and its release, process-wide:
 * - Every Powertools `Metrics` instance publishes, whatever it read from POWERTOOLS_METRICS_DISABLED when
 *   it was constructed. Powertools reads the variable once, in the constructor, into an instance field, so
 *   the shared singleton may well have been built disabled before the run started (a test that imported a
 *   handler, the order modules load in). `publishStoredMetrics` is wrapped on the prototype to clear that
 *   field for the duration of each call; `singleMetric()` instances and the singleton alike go through it.
 * - `process.stdout.write` keeps EMF lines from the terminal and hands them to the capture (Powertools'
 *   Console writes each document as one line to the `process.stdout` object it was given, whose `write`
 *   it looks up on every call); every other line passes through unchanged. `process.stderr.write` drops
 *   Powertools' "No application metrics to publish" warning, which a handler that published nothing prints.
 *
 * Captures nest (two runners in one process both receive every document); the last release restores
 * the streams and the prototype. Outside a capture nothing is changed, so unit tests that call handlers
 * directly stay as quiet as POWERTOOLS_METRICS_DISABLED makes them.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { type EmfDocument, parseEmf } from './emf.ts';

/** Where captured documents go. */
export interface EmfSink {
  /** The datapoints of one valid document. */
  readonly onDocument: (document: EmfDocument) => void;
}

/** Powertools' warning when a handler published no metrics (printed with `console.warn`). */
export const NO_METRICS_WARNING =
  'No application metrics to publish. The cold-start metric may be published if enabled. ' +
  'If application metrics should never be empty, consider using `throwOnEmptyMetrics`';

const sinks = new Set<EmfSink>();
let restore: (() => void) | undefined;

/** Starts capturing for `sink`; returns the function that stops it (idempotent). */
export function captureEmf(sink: EmfSink): () => void {
  const own: EmfSink = { onDocument: (document) => sink.onDocument(document) };
  sinks.add(own);
  if (restore === undefined) {
    const undo = [
      filterLines(process.stdout, '"_aws"', (line) => {
        const document = parseEmf(line);
        if (document === undefined) return false;
        for (const s of sinks) s.onDocument(document);
        return true;
      }),
      filterLines(process.stderr, NO_METRICS_WARNING, (line) => line === NO_METRICS_WARNING),
      publishEvenIfDisabled(),
    ];
    restore = () => {
      for (const step of undo.reverse()) step();
    };
  }
  return () => {
    if (!sinks.delete(own) || sinks.size > 0) return;
    restore?.();
    restore = undefined;
  };
}

/** Wraps `Metrics.prototype.publishStoredMetrics` so that disabled instances publish too. */
function publishEvenIfDisabled(): () => void {
  const prototype = Metrics.prototype;
  const original = prototype.publishStoredMetrics;
  prototype.publishStoredMetrics = function publishStoredMetrics(this: Metrics) {
    const instance = this as unknown as { disabled: boolean };
    const disabled = instance.disabled;
    instance.disabled = false;
    try {
      return original.call(this);
    } finally {
      instance.disabled = disabled;
    }
  };
  return () => {
    prototype.publishStoredMetrics = original;
  };
}

type WriteCallback = (error?: Error | null) => void;

/**
 * Drops the lines of `stream`'s writes for which `swallow` is true; writes that do not contain `marker`
 * pass through untouched (a cheap test before any splitting). Returns the function that undoes it.
 */
function filterLines(stream: NodeJS.WriteStream, marker: string, swallow: (line: string) => boolean) {
  const hadOwn = Object.hasOwn(stream, 'write');
  const original = stream.write;
  let active = true;
  function write(
    this: NodeJS.WriteStream,
    chunk: string | Uint8Array,
    encodingOrCallback?: BufferEncoding | WriteCallback,
    callback?: WriteCallback,
  ): boolean {
    const pass = () => Reflect.apply(original, this, [chunk, encodingOrCallback, callback]) as boolean;
    const encoding = typeof encodingOrCallback === 'string' ? encodingOrCallback : undefined;
    if (!active || (typeof chunk === 'string' && encoding !== undefined && !/^utf-?8$/i.test(encoding))) {
      return pass();
    }
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (!text.includes(marker)) return pass();
    const kept = keptLines(text, swallow);
    if (kept === text) return pass();
    const done = typeof encodingOrCallback === 'function' ? encodingOrCallback : callback;
    if (kept === '') {
      if (done) process.nextTick(done);
      return true;
    }
    return Reflect.apply(original, this, [kept, 'utf8', done]) as boolean;
  }
  stream.write = write as typeof stream.write;
  return () => {
    if (stream.write !== write) {
      active = false; // someone wrapped it after us: stay in their chain, as a pass-through
      return;
    }
    if (hadOwn) stream.write = original;
    else Reflect.deleteProperty(stream, 'write');
  };
}

/** `text` without the lines `swallow` accepts (each with its line break). */
function keptLines(text: string, swallow: (line: string) => boolean): string {
  const lines = text.split('\n');
  let out = '';
  lines.forEach((line, i) => {
    const last = i === lines.length - 1;
    if (last && line === '') return;
    if (swallow(line.endsWith('\r') ? line.slice(0, -1) : line)) return;
    out += last ? line : `${line}\n`;
  });
  return out;
}
