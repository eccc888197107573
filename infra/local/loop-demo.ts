/**
 * The closed loop on the local stack: an operator forces a version into production past its failed gate
 * (the override is audited), traffic drifts, the drift alarm's evaluation of production regresses
 * against production's last passing run, and the loop moves the label back and pages with the evidence.
 *
 * `forceProduction` makes the bad release; the drift demo (`drift-demo.ts`) makes the drift; what the
 * loop did is read back here: `llmops.RolledBack`, the page SNS would deliver, and the label as the API
 * now answers it.
 */
import type { RolledBackDetail } from '#events/rolled-back.ts';
import type { LocalApiClient } from './api-client.ts';
import type { LocalRunner } from './runner.ts';

/** The forced release the loop is expected to undo. */
export interface ForcedRelease {
  readonly prompt: string;
  readonly from: number;
  readonly to: number;
  readonly reason: string;
}

/** What the loop did after the drift. */
export interface LoopOutcome {
  /** Every `llmops.RolledBack` put since `from` (one per decision). */
  readonly decisions: readonly RolledBackDetail[];
  /** The pages the decisions sent to the paging topic, as SNS delivers them. */
  readonly pages: readonly { readonly subject: string; readonly message: string }[];
  /** The version `production` points at now, as the API answers. */
  readonly production: number | null;
}

/**
 * Moves `production` of `prompt` to `version` with `force` (past the promotion gate; the reason is kept
 * in the label history and `llmops.PromptGateOverridden` is put): the release the loop will catch.
 */
export async function forceProduction(
  client: LocalApiClient,
  prompt: string,
  version: number,
  reason: string,
): Promise<ForcedRelease> {
  const path = `/v1/prompts/${prompt}/labels/production`;
  const moved = await client.call<{ version: number; previousVersion: number | null }>(
    `PUT ${path} (force)`,
    'PUT',
    path,
    { version, force: true, reason },
  );
  return { prompt, from: moved.previousVersion ?? 0, to: moved.version, reason };
}

/** What the loop decided since event index `from`, the pages, and where `production` points now. */
export async function loopOutcome(
  stack: LocalRunner,
  client: LocalApiClient,
  prompt: string,
  from: { readonly events: number; readonly pages: number },
): Promise<LoopOutcome> {
  const decisions = stack.details<RolledBackDetail>('llmops.RolledBack', from.events);
  const pages = stack.pages
    .slice(from.pages)
    .filter((p) => p.message.includes('"rollbackId"'))
    .map((p) => ({ subject: p.subject, message: p.message }));
  const { response } = await client.send('GET', `/v1/prompts/${prompt}?label=production`);
  const body = (await response.json()) as { version?: number };
  return { decisions, pages, production: typeof body.version === 'number' ? body.version : null };
}

/** Human-readable lines of what the loop did. */
export function describeLoop(forced: ForcedRelease, outcome: LoopOutcome): string[] {
  const lines = [
    `  forced release: ${forced.prompt}@production v${forced.from} → v${forced.to} past its failed gate ("${forced.reason}", audited)`,
  ];
  if (outcome.decisions.length === 0) {
    lines.push('  the loop decided nothing (no regression against the last passing run)');
  }
  for (const d of outcome.decisions) {
    const target = d.target.kind === 'prompt' ? `${d.target.name}@${d.target.label}` : `model ${d.target.id}`;
    const to =
      d.to === null ? 'nowhere' : d.to.version !== undefined ? `v${d.to.version}` : String(d.to.model);
    const from = d.from.version !== undefined ? `v${d.from.version}` : String(d.from.model);
    lines.push(`  closed loop (${d.mode}): ${d.outcome} ${target} ${from} → ${to}`);
    lines.push(`    ${d.reason}`);
    const e = d.evidence;
    if (e.drift) {
      lines.push(
        `    drift: ${e.drift.check} ${e.drift.signal} score ${e.drift.value ?? 'n/a'} (window ending ${e.drift.windowEnd})`,
      );
    }
    lines.push(
      `    evaluation ${e.evaluation.runId} on ${e.evaluation.suite.name} v${e.evaluation.suite.version} against ${e.evaluation.comparedWith}: ${e.evaluation.failing
        .map(
          (m) => `${m.name} ${m.diff === null ? 'n/a' : m.diff.toFixed(3)} (margin ${m.margin.toFixed(3)})`,
        )
        .join(', ')}`,
    );
  }
  for (const page of outcome.pages) {
    lines.push(`  page (SNS, ${page.subject}): ${page.message.slice(0, 140)}…`);
  }
  lines.push(`  ${forced.prompt}@production now: v${outcome.production ?? '?'}`);
  return lines;
}
