/**
 * Writes the bundled drift samples of `corpus/drift/`, two windows of traffic to try the drift check on
 * (`npm start -- drift --reference corpus/drift/reference.jsonl --current corpus/drift/shifted.jsonl`):
 *
 * - `reference.jsonl`: 200 short support questions about AWS Lambda, in English (memory, timeouts,
 *   triggers, cold starts, permissions...), as a reference window of a support assistant's traffic;
 * - `reference-2.jsonl`: 200 more from the same templates and slot values, drawn with another seed: a
 *   second window of the reference distribution, which the check must NOT call drift;
 * - `shifted.jsonl`: 200 questions that moved to another topic (Amazon EKS and Kubernetes operations,
 *   and the bill), two to three sentences long instead of one, and 40% of them in Spanish, German,
 *   Japanese or Russian: a window the check must call drift.
 *
 * Each line is `{"text": ..., "embedding": [...]}`: the text is a template filled with slot values
 * chosen by a seeded generator, and the embedding is the offline model's hashed embedding of the text
 * (`hashEmbedding` in layers/core/src/models/offline.ts) at 16 dimensions, rounded to 4 decimals, so
 * that the embedding tests and the report's projection have something to work on without a model.
 * Deterministic: the same script writes the same bytes (no clock, no randomness but the seeds below).
 *
 * Usage: `npx tsx scripts/drift-samples.ts [out folder]` (default `corpus/drift`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng, type Rng } from '#core/eval/stats.ts';
import { hashEmbedding } from '#core/models/offline.ts';

const OUT = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'corpus', 'drift');
const LINES = 200;
const DIMENSIONS = 16;

type Slots = Readonly<Record<string, readonly string[]>>;

/** A template: `{slot}` is replaced by a value of that slot. */
type Template = string;

const LAMBDA_SLOTS: Slots = {
  runtime: ['Node.js 20', 'Node.js 22', 'Python 3.12', 'Python 3.13', 'Java 21', '.NET 8', 'Ruby 3.3'],
  trigger: ['S3', 'SQS', 'SNS', 'API Gateway', 'DynamoDB Streams', 'Kinesis', 'EventBridge'],
  setting: [
    'memory',
    'timeout',
    'reserved concurrency',
    'provisioned concurrency',
    'ephemeral storage',
    'environment variables',
  ],
  error: [
    '"Task timed out after 3.00 seconds"',
    'AccessDeniedException',
    'Runtime.ImportModuleError',
    'an out of memory error',
    '"Rate exceeded"',
    'KMSAccessDeniedException',
  ],
  feature: ['layers', 'aliases', 'versions', 'container images', 'SnapStart', 'extensions', 'a VPC'],
};

const LAMBDA_TEMPLATES: readonly Template[] = [
  'How do I change the {setting} of my Lambda function?',
  'Why does my {runtime} function fail with {error}?',
  'My Lambda function triggered by {trigger} runs twice for the same event, why?',
  'How can I reduce cold starts for a {runtime} function?',
  'Can I use {feature} with a function invoked by {trigger}?',
  'What is the maximum {setting} I can set for a Lambda function?',
  'How do I give my function permission to read from {trigger}?',
  'Where do I find the logs of a {runtime} function that fails with {error}?',
  'How do I deploy a new version of my function with {feature}?',
  'My {trigger} trigger stopped invoking my function after I changed the {setting}, what should I check?',
];

const EKS_SLOTS: Slots = {
  workload: [
    'a payments API',
    'our batch jobs',
    'a Kafka consumer',
    'the checkout service',
    'an ML inference service',
  ],
  nodes: ['12', '24', '40', '64'],
  region: ['eu-west-1', 'us-east-1', 'ap-northeast-1', 'eu-central-1'],
  k8s: ['1.29', '1.30', '1.31'],
  namespace: ['payments', 'batch', 'ingest', 'default'],
  podState: ['Pending', 'ContainerCreating', 'CrashLoopBackOff'],
  component: ['aws-node DaemonSet', 'CoreDNS deployment', 'cluster autoscaler', 'ingress controller'],
  k8sError: [
    '"failed to assign an IP address to container"',
    '"0/12 nodes are available: insufficient cpu"',
    '"ImagePullBackOff"',
    '"OOMKilled"',
  ],
  service: ['EC2', 'NAT Gateway', 'EBS', 'data transfer'],
  percent: ['35', '60', '120'],
  addon: ['Container Insights', 'GuardDuty runtime monitoring', 'a service mesh', 'VPC flow logs'],
  instance: ['m5.large', 'c6g.xlarge', 'r6i.2xlarge'],
  rps: ['2,000', '15,000', '40,000'],
};

const EKS_TEMPLATES: readonly Template[] = [
  'We run {workload} on an Amazon EKS cluster with {nodes} nodes in {region}. Since upgrading to Kubernetes {k8s}, pods in the {namespace} namespace get stuck in {podState} and the {component} logs show {k8sError}. How do we find out which node group is misconfigured, and can we roll the upgrade back without downtime?',
  'Our monthly bill for {service} went up by {percent}% after we enabled {addon} on the EKS cluster in {region}. Which Cost Explorer dimensions explain the increase, and is there a way to cap the spend per Kubernetes namespace?',
  'After moving {workload} to Fargate profiles, the {component} keeps restarting with {k8sError}. We already raised the CPU and memory requests twice. What else limits pods on Fargate, and where can I see those limits?',
  'How should we size the {nodes} worker nodes of our EKS cluster for {workload} that peaks at {rps} requests per second? Does the VPC CNI limit the number of pods per node on {instance} instances, and should we turn on prefix delegation?',
  'Our EKS cluster in {region} runs Kubernetes {k8s} and the {component} was upgraded by an add-on update last night. Now {workload} answers with timeouts and the events show {k8sError}. Is there a supported way to pin add-on versions?',
];

/** Non-English questions on the same EKS topic: Spanish, German (Latin script), Japanese, Russian. */
const FOREIGN_TEMPLATES: readonly Template[] = [
  'Tenemos un clúster de Amazon EKS con {nodes} nodos en {region} y, desde la actualización a Kubernetes {k8s}, los pods del espacio de nombres {namespace} se quedan en {podState}. ¿Cómo podemos averiguar qué grupo de nodos está mal configurado y volver atrás sin interrupciones?',
  'Unser EKS-Cluster in {region} mit {nodes} Knoten zeigt seit dem Upgrade auf Kubernetes {k8s} den Fehler {k8sError} im {component}. Wie können wir das Upgrade ohne Ausfallzeit zurücknehmen, und welche Knotengruppe ist falsch konfiguriert?',
  '{region} の Amazon EKS クラスター（ノード {nodes} 台）で Kubernetes {k8s} にアップグレードしてから、{namespace} 名前空間のポッドが {podState} のままになります。どのノードグループの設定が間違っているかを調べる方法と、停止せずに元に戻す方法を教えてください。',
  'После обновления кластера Amazon EKS в регионе {region} до Kubernetes {k8s} поды в пространстве имён {namespace} зависают в состоянии {podState}, а в журналах {component} видна ошибка {k8sError}. Как понять, какая группа узлов настроена неправильно, и можно ли откатить обновление без простоя?',
];

function pick<T>(values: readonly T[], rng: Rng): T {
  return values[rng.nextInt(values.length)] as T;
}

function fill(template: Template, slots: Slots, rng: Rng): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const values = slots[name];
    if (!values) throw new Error(`template slot {${name}} has no values`);
    return pick(values, rng);
  });
}

function line(text: string): string {
  const embedding = hashEmbedding(text, DIMENSIONS).map((x) => Number(x.toFixed(4)));
  return JSON.stringify({ text, embedding });
}

function lambdaWindow(seed: string): string[] {
  const rng = createRng(seed);
  return Array.from({ length: LINES }, () => line(fill(pick(LAMBDA_TEMPLATES, rng), LAMBDA_SLOTS, rng)));
}

function shiftedWindow(seed: string): string[] {
  const rng = createRng(seed);
  return Array.from({ length: LINES }, (_, i) => {
    // Every fifth line in each of two positions: 40% non-English, spread evenly over the file.
    const foreign = i % 5 === 1 || i % 5 === 3;
    return line(fill(pick(foreign ? FOREIGN_TEMPLATES : EKS_TEMPLATES, rng), EKS_SLOTS, rng));
  });
}

mkdirSync(OUT, { recursive: true });
const files: Record<string, string[]> = {
  'reference.jsonl': lambdaWindow('drift-samples/reference'),
  'reference-2.jsonl': lambdaWindow('drift-samples/reference-2'),
  'shifted.jsonl': shiftedWindow('drift-samples/shifted'),
};
for (const [name, lines] of Object.entries(files)) {
  writeFileSync(join(OUT, name), `${lines.join('\n')}\n`);
  console.log(`${join(OUT, name)}: ${lines.length} lines`);
}
