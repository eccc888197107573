/**
 * Where DataPrep keeps the lines it quarantined (the original text, PII included): under `quarantine/` in
 * the artifacts bucket, written by Finalize alone, read by no function of the stack (operators read it
 * with their own credentials), and expired by a lifecycle rule after the profile's
 * `dataPrep.quarantineExpirationDays` (noncurrent versions a day later). The functions that read curated
 * data (RagIngest, the API, Register, Evaluation's RegisterSuite and Plan) cannot read it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { QUARANTINE_PREFIX } from '#contracts/storage-layout.ts';
import { functionOfEntry, list, roleIdOf, roleStatements, type Statement } from './support/iam.ts';
import {
  type CfnJson,
  type CfnResource,
  type CfnTemplate,
  flatten,
  logicalIdsOfType,
  type Synthesized,
  synth,
} from './support/synth.ts';

let dev: Synthesized;
let prod: Synthesized;

beforeAll(() => {
  const fast = { nag: false, cfnValidation: false };
  dev = synth({ profile: 'dev' }, fast);
  prod = synth({ profile: 'prod' }, fast);
});

const profiles = () =>
  [
    ['dev', dev],
    ['prod', prod],
  ] as const;

const props = (r: CfnResource) => (r.Properties ?? {}) as Record<string, CfnJson>;

function bucketId(json: CfnTemplate, name: 'Curated' | 'Artifacts'): string {
  const ids = logicalIdsOfType(json, 'AWS::S3::Bucket').filter((id) => id.startsWith(`Storage${name}`));
  expect(ids).toHaveLength(1);
  return ids[0] as string;
}

/** Every role of the stack with the statements of its attached and inline policies. */
const roles = (json: CfnTemplate): Map<string, Statement[]> =>
  new Map(logicalIdsOfType(json, 'AWS::IAM::Role').map((id) => [id, roleStatements(json, id)]));

const roleOf = (json: CfnTemplate, entry: string): string => roleIdOf(functionOfEntry(json, entry));

/** Whether an IAM resource pattern (`*` and `?` wildcards) covers an ARN. */
function covers(pattern: string, arn: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`).test(arn);
}

/** Whether the statements allow an S3 action matching `action` on the object `arn`. */
function allows(statements: readonly Statement[], action: RegExp, arn: string): boolean {
  return statements.some(
    (st) =>
      st.Effect === 'Allow' &&
      list(st.Action).some((a) => action.test(a) || a === 's3:*') &&
      list(st.Resource).some((r) => covers(flatten(r), arn)),
  );
}

const READ = /^s3:GetObject/;
const WRITE = /^s3:PutObject$/;

/** A quarantine file as Finalize writes it, and where the curated data of the same version lives. */
const QUARANTINE_KEY = `${QUARANTINE_PREFIX}dataprep/datasets/rag/faq/v000001/quarantine.jsonl`;
const CURATED_KEY = 'datasets/rag/faq/v000001/data.jsonl';
/** A golden dataset version, as Evaluation reads it. */
const GOLDEN_KEY = 'datasets/golden/support/v000001/data.jsonl';

/** The functions that read curated data (or learn its keys) and must not read the quarantine. */
const CURATED_READERS = [
  'functions/rag/plan.ts',
  'functions/dataprep/register.ts',
  'functions/api/rag.ts',
  'functions/api/chat.ts',
  // Golden datasets: registered as suites, sampled into runs.
  'functions/evaluation/register-suite.ts',
  'functions/evaluation/plan.ts',
] as const;

describe('quarantine', () => {
  it('has its own prefix, outside the staging and curated layouts', () => {
    expect(QUARANTINE_PREFIX).toBe('quarantine/');
  });

  it.each(['dev', 'prod'] as const)(
    '%s: no function of the stack can read the quarantine; only Finalize can write it',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const artifacts = `<${bucketId(s.json, 'Artifacts')}.Arn>`;
      const curated = `<${bucketId(s.json, 'Curated')}.Arn>`;
      const quarantine = `${artifacts}/${QUARANTINE_KEY}`;
      const all = roles(s.json);
      const readers = [...all].filter(([, st]) => allows(st, READ, quarantine)).map(([id]) => id);
      expect(readers, 'roles that can read the quarantine').toEqual([]);
      const finalize = roleOf(s.json, 'functions/dataprep/finalize.ts');
      const writers = [...all].filter(([, st]) => allows(st, WRITE, quarantine)).map(([id]) => id);
      expect(writers).toEqual([finalize]);
      // The readers of curated data still read curated data (the check above is not vacuous) ...
      const ragPlan = all.get(roleOf(s.json, 'functions/rag/plan.ts')) ?? [];
      expect(allows(ragPlan, READ, `${curated}/${CURATED_KEY}`)).toBe(true);
      const suites = all.get(roleOf(s.json, 'functions/evaluation/register-suite.ts')) ?? [];
      expect(allows(suites, READ, `${curated}/${GOLDEN_KEY}`)).toBe(true);
      // ... and none of them can read the quarantine.
      for (const entry of CURATED_READERS) {
        expect(allows(all.get(roleOf(s.json, entry)) ?? [], READ, quarantine), entry).toBe(false);
      }
      // Finalize writes there, never reads there.
      expect(allows(all.get(finalize) ?? [], READ, quarantine)).toBe(false);
    },
  );

  it.each(['dev', 'prod'] as const)(
    '%s: Finalize is told the bucket and the expiry it writes into the manifest',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const env = props(functionOfEntry(s.json, 'functions/dataprep/finalize.ts')).Environment.Variables;
      expect(env.QUARANTINE_BUCKET).toEqual({ Ref: bucketId(s.json, 'Artifacts') });
      expect(env.QUARANTINE_EXPIRATION_DAYS).toBe(String(s.config.dataPrep.quarantineExpirationDays));
    },
  );

  it("expires after the profile's days, noncurrent versions a day later", () => {
    expect(dev.config.dataPrep.quarantineExpirationDays).toBe(7);
    expect(prod.config.dataPrep.quarantineExpirationDays).toBe(14);
    for (const [, s] of profiles()) {
      const rules = props(s.json.Resources[bucketId(s.json, 'Artifacts')] as CfnResource)
        .LifecycleConfiguration.Rules as CfnJson[];
      expect(rules.filter((r) => r.Prefix === QUARANTINE_PREFIX)).toEqual([
        expect.objectContaining({
          Id: 'expire-quarantine',
          Status: 'Enabled',
          ExpirationInDays: s.config.dataPrep.quarantineExpirationDays,
          NoncurrentVersionExpiration: { NoncurrentDays: 1 },
        }),
      ]);
    }
  });
});
