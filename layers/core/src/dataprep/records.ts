/**
 * Zod schemas for dataset records: one JSON object per JSONL line, one shape per dataset purpose.
 *
 * Unknown keys are REJECTED (strict objects) for every purpose, at every level. A misspelt optional
 * key (`refrence`, `titel`, `contexs`) would otherwise be dropped silently and change what the record
 * means (an evaluation item without its reference, a document without its title). The error names the
 * key and lists the allowed ones, so an uploader can fix the export. Free-form data has one explicit
 * home: `metadata` (flat string/number/boolean/null values on `rag` and `preference` records; any JSON
 * on `golden` ones, as an evaluation suite takes it). The one exception is an OpenAI Evals sample (a `golden` record with
 * `ideal`), whose extra fields are kept as they are, since Evals templates read them.
 *
 * `golden` records are evaluation suite lines, and are checked by the suite's own parser
 * (`#core/eval/suite.ts`), so that DataPrep accepts exactly the lines an evaluation suite accepts.
 *
 * Required text fields must be non-empty strings here; `processLine` additionally rejects text that
 * becomes empty after normalization (code `EMPTY_TEXT`).
 */
import * as z from 'zod';
import {
  type OpenaiEvalsSample,
  type SuiteItemLine,
  suiteCounterfactual,
  suiteItemLine,
  suiteMessage,
} from '#contracts/evaluation/suite.ts';
import { parseSuiteItem } from '../eval/suite.ts';

/** The purposes a dataset can be prepared for. */
export const PURPOSES = ['finetune', 'preference', 'rag', 'golden'] as const;

/** A dataset purpose. */
export type Purpose = (typeof PURPOSES)[number];

/** Type guard for {@link Purpose}. */
export function isPurpose(x: unknown): x is Purpose {
  return typeof x === 'string' && (PURPOSES as readonly string[]).includes(x);
}

/** Chat roles accepted in `messages`. */
export const CHAT_ROLES = ['system', 'user', 'assistant'] as const;

/** A chat role. */
export type ChatRole = (typeof CHAT_ROLES)[number];

const nonEmptyText = z.string().min(1);

function strict<T extends z.core.$ZodLooseShape>(shape: T) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown key (allowed: ${allowed})` : undefined),
  });
}

/** One chat message: `{ role, content }`. */
export const chatMessageSchema = strict({
  role: z.enum(CHAT_ROLES),
  content: nonEmptyText,
});

/** A chat message. */
export type ChatMessage = z.infer<typeof chatMessageSchema>;

/** Fine-tuning record in chat form: at least one user and one assistant message, the last from the assistant. */
export const chatRecordSchema = strict({
  messages: z.array(chatMessageSchema).superRefine((messages, ctx) => {
    if (!messages.some((m) => m.role === 'user')) {
      ctx.addIssue({ code: 'custom', message: 'must contain at least one user message' });
    }
    if (!messages.some((m) => m.role === 'assistant')) {
      ctx.addIssue({ code: 'custom', message: 'must contain at least one assistant message' });
    }
    const last = messages.at(-1);
    if (last && last.role !== 'assistant') {
      ctx.addIssue({
        code: 'custom',
        path: [messages.length - 1, 'role'],
        message: `the last message must be from the assistant (got ${last.role})`,
      });
    }
  }),
});

/** A fine-tuning record in chat form. */
export type ChatRecord = z.infer<typeof chatRecordSchema>;

/** Fine-tuning record in completion form. */
export const promptCompletionRecordSchema = strict({
  prompt: nonEmptyText,
  completion: nonEmptyText,
});

/** A fine-tuning record in completion form. */
export type PromptCompletionRecord = z.infer<typeof promptCompletionRecordSchema>;

/** A fine-tuning record: chat or completion form. */
export type FinetuneRecord = ChatRecord | PromptCompletionRecord;

/**
 * Fine-tuning record. The form is chosen by the keys present (`messages` → chat, `prompt` or
 * `completion` → completion), so errors describe the form the uploader meant instead of a union dump.
 */
export const finetuneRecordSchema = z.custom<FinetuneRecord>().superRefine((value, ctx) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: 'expected an object' });
    return;
  }
  let branch: z.ZodType;
  if ('messages' in value) branch = chatRecordSchema;
  else if ('prompt' in value || 'completion' in value) branch = promptCompletionRecordSchema;
  else {
    ctx.addIssue({
      code: 'custom',
      message: 'expected a chat record {messages: [...]} or a completion record {prompt, completion}',
    });
    return;
  }
  const result = branch.safeParse(value);
  if (!result.success) {
    for (const issue of result.error.issues) ctx.addIssue(issue as z.core.$ZodRawIssue);
  }
});

const metadataValue = z.union([z.string(), z.number(), z.boolean(), z.null()], {
  error: 'expected a string, number, boolean or null',
});

/** Flat metadata: string keys, scalar values. */
export const metadataSchema = z.record(z.string(), metadataValue);

/**
 * Preference (DPO) record: a prompt with a chosen and a rejected answer, which must differ. `metadata`
 * (flat, as on rag records) carries provenance, such as the feedback export's interactions, annotators
 * and kind of pair; it is kept as it is (not redacted, not part of the dedupe text) and the trainer
 * drops it.
 */
export const preferenceRecordSchema = strict({
  prompt: nonEmptyText,
  chosen: nonEmptyText,
  rejected: nonEmptyText,
  metadata: metadataSchema.optional(),
}).superRefine((record, ctx) => {
  if (record.chosen === record.rejected) {
    ctx.addIssue({ code: 'custom', path: ['rejected'], message: 'must differ from chosen' });
  }
});

/** A preference record. */
export type PreferenceRecord = z.infer<typeof preferenceRecordSchema>;

/** A RAG document. `metadata` is the place for any extra fields. */
export const ragRecordSchema = strict({
  id: nonEmptyText.optional(),
  text: nonEmptyText,
  title: z.string().optional(),
  source: z.string().optional(),
  metadata: metadataSchema.optional(),
});

/** A RAG document record. */
export type RagRecord = z.infer<typeof ragRecordSchema>;

/**
 * An evaluation (golden) record: one line of an evaluation suite (`#contracts/evaluation/suite.ts`), in
 * either format: the project's own (`{id?, input | messages, reference? | references?, contexts?, ...}`)
 * or an OpenAI Evals sample as it is (`{input, ideal, ...any other field}`). `input` is a string or a
 * list of `{role, content, name?}` turns; bias probes carry `counterfactuals` or a `{{group}}` slot with
 * `metadata.groups`.
 */
export type GoldenRecord = SuiteItemLine | (OpenaiEvalsSample & Record<string, unknown>);

/**
 * Checks a golden record with the evaluation suite's line parser ({@link parseSuiteItem}), the one
 * definition of a suite line: a record passes exactly when an evaluation suite would take the line. The
 * record comes back as it was given (an Evals sample keeps `ideal` and its extra fields); the parser's
 * reason becomes one issue per field it names (`counterfactuals.0.group: must have at least 1
 * characters`), and the first unknown field's issue lists the fields allowed where it stands.
 */
export const goldenRecordSchema = z.custom<GoldenRecord>().superRefine((value, ctx) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
    ctx.addIssue({ code: 'custom', message: `expected object, got ${got}` });
    return;
  }
  const parsed = parseSuiteItem(value);
  if ('reason' in parsed) for (const issue of suiteIssues(parsed.reason)) ctx.addIssue(issue);
});

/** The fields of a suite line, the ones that say what the item is first. */
const LINE_KEYS = [
  ...new Set(['id', 'input', 'messages', 'reference', 'references', ...Object.keys(suiteItemLine.shape)]),
].join(', ');
const TURN_KEYS = Object.keys(suiteMessage.shape).join(', ');
const COUNTERFACTUAL_KEYS = Object.keys(suiteCounterfactual.shape).join(', ');

/**
 * The suite parser's reason (`field: rule; field: rule`, fields as dotted paths) as issues with their
 * paths. Rendered by {@link formatZodIssues}, they read as the parser's reason did.
 */
function suiteIssues(reason: string): { code: 'custom'; path: PropertyKey[]; message: string }[] {
  const listed = new Set<string>(); // where the allowed fields were already listed
  return reason.split('; ').map((part) => {
    const at = part.indexOf(': ');
    if (at === -1) return { code: 'custom', path: [], message: part };
    const field = part.slice(0, at);
    const path = field.split('.').map((key) => (/^\d+$/.test(key) ? Number(key) : key));
    const rule = part.slice(at + 2);
    const holder = path.slice(0, -1).join('.');
    const allowed = rule === 'unknown field' && !listed.has(holder) ? allowedKeys(path) : undefined;
    if (allowed === undefined) return { code: 'custom', path, message: rule };
    listed.add(holder);
    return { code: 'custom', path, message: `${rule} (allowed: ${allowed})` };
  });
}

/** The fields allowed beside an unknown one at `path`: a line's, a turn's or a counterfactual's. */
function allowedKeys(path: readonly PropertyKey[]): string | undefined {
  if (path.length === 1) return LINE_KEYS;
  const holder = path.at(-3);
  if (typeof path.at(-2) !== 'number') return undefined;
  if (holder === 'input' || holder === 'messages') return TURN_KEYS;
  if (holder === 'counterfactuals') return COUNTERFACTUAL_KEYS;
  return undefined;
}

/** The schema of a record for each purpose. */
export const recordSchemas: Record<Purpose, z.ZodType> = {
  finetune: finetuneRecordSchema,
  preference: preferenceRecordSchema,
  rag: ragRecordSchema,
  golden: goldenRecordSchema,
};

/** The most issues {@link formatZodIssues} lists before summarising the rest. */
export const MAX_LISTED_ISSUES = 5;

/**
 * Renders a Zod error as one line that names each field path and the rule it broke, e.g.
 * `messages.1.role: expected one of system|user|assistant; prompt: required (expected string)`.
 * The root path is written `record`. At most {@link MAX_LISTED_ISSUES} issues are listed.
 */
export function formatZodIssues(error: z.ZodError | { issues: readonly z.core.$ZodIssue[] }): string {
  const parts: string[] = [];
  for (const issue of error.issues) collectIssue(issue, [], parts);
  if (parts.length <= MAX_LISTED_ISSUES) return parts.join('; ');
  return `${parts.slice(0, MAX_LISTED_ISSUES).join('; ')}; (+${parts.length - MAX_LISTED_ISSUES} more)`;
}

function collectIssue(issue: z.core.$ZodIssue, prefix: readonly PropertyKey[], out: string[]): void {
  const path = [...prefix, ...issue.path];
  switch (issue.code) {
    case 'unrecognized_keys':
      for (const key of issue.keys) {
        out.push(
          `${formatPath([...path, key])}: ${issue.message.startsWith('Unrecognized') ? 'unknown key' : issue.message}`,
        );
      }
      return;
    case 'invalid_union': {
      const custom = !issue.message.startsWith('Invalid input');
      const best = issue.errors.reduce<readonly z.core.$ZodIssue[] | undefined>(
        (acc, branch) => (acc === undefined || branch.length < acc.length ? branch : acc),
        undefined,
      );
      if (custom || best === undefined) out.push(`${formatPath(path)}: ${issue.message}`);
      else for (const sub of best) collectIssue(sub, path, out);
      return;
    }
    default:
      out.push(`${formatPath(path)}: ${describeRule(issue)}`);
  }
}

function describeRule(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type': {
      const received = /received (\w+)/.exec(issue.message)?.[1];
      if (received === 'undefined') return `required (expected ${issue.expected})`;
      return received ? `expected ${issue.expected}, got ${received}` : issue.message;
    }
    case 'invalid_value':
      return `expected one of ${issue.values.map(String).join('|')}`;
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'string')
        return min <= 1 ? 'must not be empty' : `must have at least ${min} characters`;
      if (issue.origin === 'array' || issue.origin === 'set') {
        return `must have at least ${min} item${min === 1 ? '' : 's'}`;
      }
      return `must be ${issue.inclusive ? '>=' : '>'} ${min}`;
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'string') return `must have at most ${max} characters`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must have at most ${max} items`;
      return `must be ${issue.inclusive ? '<=' : '<'} ${max}`;
    }
    default:
      return issue.message;
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'record';
  return path.map((p) => String(p)).join('.');
}

/**
 * A fast path for the common well-formed records: the value that `recordSchemas[purpose].safeParse`
 * would return as `data` when `value` (fresh from `JSON.parse`) is certainly valid, or `undefined`
 * when it is not or may not be, in which case the caller runs the schema (which also writes the
 * error messages). Covers `finetune` (both forms; the schema returns the value itself) and
 * `preference` (a new object in schema key order); other purposes always return `undefined`.
 */
export function fastParseRecord(purpose: Purpose, value: object): Record<string, unknown> | undefined {
  const record = value as Record<string, unknown>;
  if (purpose === 'finetune') {
    const keys = Object.keys(record);
    if ('messages' in record) {
      return keys.length === 1 && keys[0] === 'messages' && validChat(record.messages) ? record : undefined;
    }
    return keys.length === 2 && nonEmpty(record.prompt) && nonEmpty(record.completion) ? record : undefined;
  }
  if (purpose === 'preference') {
    const { prompt, chosen, rejected } = record;
    if (
      Object.keys(record).length === 3 &&
      nonEmpty(prompt) &&
      nonEmpty(chosen) &&
      nonEmpty(rejected) &&
      chosen !== rejected
    ) {
      return { prompt, chosen, rejected };
    }
  }
  return undefined;
}

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** Whether `messages` certainly passes `chatRecordSchema.messages`. */
function validChat(messages: unknown): boolean {
  if (!Array.isArray(messages) || messages.length === 0) return false;
  let user = false;
  let assistant = false;
  let role: unknown;
  for (const message of messages as unknown[]) {
    if (typeof message !== 'object' || message === null || Array.isArray(message)) return false;
    const m = message as Record<string, unknown>;
    if (Object.keys(m).length !== 2 || !nonEmpty(m.content)) return false;
    role = m.role;
    if (role === 'user') user = true;
    else if (role === 'assistant') assistant = true;
    else if (role !== 'system') return false;
  }
  return user && assistant && role === 'assistant';
}
