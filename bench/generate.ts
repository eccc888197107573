import { once } from 'node:events';
import { createWriteStream } from 'node:fs';

/**
 * Writes a deterministic synthetic finetune dataset of about `bytes` bytes: chat records of varied
 * length and vocabulary, with 2% carrying PII, 3% exact duplicates, 2% near duplicates and 0.5% bad lines,
 * so the benchmark exercises every step of the pipeline.
 */
export const WORDS = (
  'lambda function timeout memory concurrency event bridge bucket object version table index query ' +
  'latency token model prompt answer context retrieval embedding vector chunk dataset training evaluation ' +
  'metric alarm drift baseline window deploy endpoint canary rollback traffic variant scale zero cost ' +
  'budget invoice region account policy role permission encrypt key rotate secret parameter cache retry ' +
  'backoff throttle queue dead letter replay archive schema contract sample golden reference judge'
).split(' ');

/** A deterministic uniform [0, 1) generator from `seed`. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    s ^= s >>> 12;
    return (s >>> 0) / 2 ** 32;
  };
}

export async function generateDataset(path: string, bytes: number, seed = 42): Promise<{ records: number }> {
  const random = rng(seed);
  const pick = () => WORDS[Math.floor(random() * WORDS.length)] ?? 'token';
  const sentence = (n: number) => Array.from({ length: n }, pick).join(' ');
  const out = createWriteStream(path);
  const recent: string[] = [];
  let written = 0;
  let records = 0;
  let batch: string[] = [];
  while (written < bytes) {
    const roll = random();
    let line: string;
    if (roll < 0.005) {
      line = '{"messages": [{"role": "user", "content": "truncated';
    } else if (roll < 0.035 && recent.length > 0) {
      line = recent[Math.floor(random() * recent.length)] ?? '';
    } else if (roll < 0.055 && recent.length > 0) {
      const base = JSON.parse(recent[Math.floor(random() * recent.length)] ?? '{}') as {
        messages: { content: string }[];
      };
      const last = base.messages[base.messages.length - 1];
      // One word changed near the end: a near duplicate, not an exact one.
      if (last) last.content = last.content.replace(/\b\w+(\.?)$/, 'variant$1');
      line = JSON.stringify(base);
    } else {
      const pii =
        random() < 0.02
          ? ` contact jane.doe${records}@example.com or +1 415 555 ${String(1000 + (records % 9000))}`
          : '';
      line = JSON.stringify({
        messages: [
          { role: 'system', content: 'You are a helpful assistant for cloud operations.' },
          { role: 'user', content: `${sentence(8 + Math.floor(random() * 20))}?${pii}` },
          { role: 'assistant', content: `${sentence(20 + Math.floor(random() * 60))}.` },
        ],
      });
      if (recent.length < 1000) recent.push(line);
      else recent[Math.floor(random() * recent.length)] = line;
    }
    batch.push(line);
    written += Buffer.byteLength(line) + 1;
    records++;
    if (batch.length >= 1000) {
      if (!out.write(`${batch.join('\n')}\n`)) await once(out, 'drain');
      batch = [];
    }
  }
  if (batch.length > 0) out.write(`${batch.join('\n')}\n`);
  out.end();
  await once(out, 'finish');
  return { records };
}
