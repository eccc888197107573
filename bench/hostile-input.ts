import { emptyPiiCounts, redactIntlPhones, redactPii } from '#core/dataprep/pii.ts';
import { processLine } from '#core/dataprep/process.ts';
import { atxHeading } from '#core/rag/chunk.ts';
import { h1Text } from '#core/rag/parse/markdown.ts';
import { OLD_H1_LINE, OLD_HEADING, oldIntlPhones } from '../test/support/replaced-regexes.ts';
import { announceSmoke, formatRatio, options, sized, sizedList } from './options.ts';

/**
 * Hostile input against the code that reads caller text: the adversarial inputs of the ReDoS findings,
 * at growing sizes, through the linear code the product runs and through the regexes it replaced (the
 * baseline), side by side in one run. Prints the best of a few timings of each and the ratio. The old
 * regexes grow quadratically (or worse): above BENCH_HOSTILE_OLD_MAX characters (default 100,000) they
 * are not run, and the line says what the growth between the two largest measured sizes predicts.
 *
 * The tests (test/unit/core/redaction-linear.test.ts, test/unit/rag/parse-linear.test.ts) hold the
 * same code to a time budget and a growth ratio over many patterns; this prints the numbers.
 * Environment: BENCH_HOSTILE_SIZES (30000,100000,1000000), BENCH_HOSTILE_OLD_MAX, BENCH_HOSTILE_RUNS (3).
 */
const SIZES = sizedList('BENCH_HOSTILE_SIZES', [30_000, 100_000, 1_000_000], [1_000, 3_000]);
const OLD_MAX = sized('BENCH_HOSTILE_OLD_MAX', 100_000, 3_000);
const RUNS = sized('BENCH_HOSTILE_RUNS', 3, 1);

announceSmoke();

/** The best of RUNS timings of `f`, in ms; a run over a second is not repeated (the old regexes at size). */
function best(f: () => unknown): number {
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < RUNS && (i === 0 || min < 1000); i++) {
    const start = performance.now();
    f();
    min = Math.min(min, performance.now() - start);
  }
  return min;
}

const ms = (t: number) => (t >= 1000 ? `${(t / 1000).toFixed(2)} s` : `${t.toFixed(2)} ms`);

interface Case {
  readonly name: string;
  readonly make: (n: number) => string;
  readonly current: (input: string) => unknown;
  readonly replaced: (input: string) => unknown;
}

const phoneUnit = `+1${'2'.repeat(28)}a `;
const CASES: Case[] = [
  {
    name: 'chunker heading: "# a" + spaces + "b"',
    make: (n) => `# a${' '.repeat(n)}b`,
    current: (s) => atxHeading(s),
    replaced: (s) => OLD_HEADING.exec(s),
  },
  {
    name: 'title heading: "# a" + spaces + "b"',
    make: (n) => `# a${' '.repeat(n)}b`,
    current: (s) => h1Text(s),
    replaced: (s) => OLD_H1_LINE.exec(s),
  },
  {
    name: 'phone: ("+1", 28 digits, "a ") repeated',
    make: (n) => phoneUnit.repeat(Math.ceil(n / phoneUnit.length)).slice(0, n),
    current: (s) => redactIntlPhones(s, emptyPiiCounts()),
    replaced: (s) => oldIntlPhones(s),
  },
];

console.log(`hostile input: best of ${RUNS} runs; the replaced regexes up to ${OLD_MAX} characters`);
for (const c of CASES) {
  let last: { n: number; t: number } | undefined;
  let before: { n: number; t: number } | undefined;
  for (const n of SIZES) {
    const input = c.make(n);
    const now = best(() => c.current(input));
    if (n <= OLD_MAX) {
      const old = best(() => c.replaced(input));
      before = last;
      last = { n, t: old };
      console.log(
        `${c.name.padEnd(44)} n=${String(n).padStart(9)}  now ${ms(now).padStart(10)}  replaced ${ms(old).padStart(10)}  ratio ${formatRatio(old / Math.max(now, 0.001))}`,
      );
    } else {
      // The growth exponent between the two largest measured sizes predicts the time at n.
      const exponent =
        last && before && before.t > 0 ? Math.log(last.t / before.t) / Math.log(last.n / before.n) : 2;
      const predicted = last ? last.t * (n / last.n) ** exponent : Number.NaN;
      console.log(
        `${c.name.padEnd(44)} n=${String(n).padStart(9)}  now ${ms(now).padStart(10)}  replaced not run (growth n^${exponent.toFixed(1)} predicts ${ms(predicted)})`,
      );
    }
  }
}

// One record of 1 MiB of the phone pattern through the whole per-line pipeline (parse, validate,
// normalize, redact, hash, MinHash, token count), as DataPrep's ProcessPart runs it.
const recordChars = options.smoke ? 16 * 1024 : 1 << 20;
const text = phoneUnit.repeat(Math.ceil(recordChars / phoneUnit.length)).slice(0, recordChars - 40);
const bytes = Buffer.from(JSON.stringify({ id: 'hostile', text }));
const processOptions = { purpose: 'rag', maxRecordBytes: 2 << 20 } as const;
// Warm: the tokenizer's tables load on the first count, as once per warm function.
processLine(
  { lineNo: 0, bytes: Buffer.from('{"text":"warm up"}'), byteOffset: 0 },
  processOptions,
  emptyPiiCounts(),
);
const whole = best(() => redactPii(text));
const line = best(() => processLine({ lineNo: 1, bytes, byteOffset: 0 }, processOptions, emptyPiiCounts()));
console.log(
  `one record of ${bytes.length} bytes of the phone pattern: every PII detector ${ms(whole)}, the whole per-line pipeline ${ms(line)}`,
);
