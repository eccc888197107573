/**
 * Synthesizes the real app (the same `buildApp()` that `infra/app.ts` uses) for a profile, with the
 * cdk-nag AwsSolutions plugin registered exactly as in `infra/app.ts`, and asset bundling skipped. The
 * template is the whole deployment: nested stacks flattened into the parent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type App, type CfnElement, NestedStack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { AppConfig } from '#infra/config/index.ts';
import { flattenNestedStacks } from '#infra/local/template/nested-stacks.ts';
import { buildApp, type LlmOpsStack } from '#infra/stacks/llmops-stack.ts';

export interface Synthesized {
  readonly app: App;
  readonly stack: LlmOpsStack;
  readonly config: AppConfig;
  readonly template: Template;
  /** The template as JSON. */
  readonly json: CfnTemplate;
  /** Violations from `validation-report.json` (all plugins), empty when there is none. */
  readonly validationViolations: readonly ReportViolation[];
}

/**
 * A value read from the synthesized CloudFormation JSON. Tests read deep, heterogeneous template
 * structures and let the assertions do the checking, so this one alias is deliberately untyped.
 */
// biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation JSON, checked by assertions
export type CfnJson = any;

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown }>;
}

export interface ReportViolation {
  readonly pluginName: string;
  readonly ruleName: string;
  readonly severity: string;
  readonly constructs: readonly string[];
}

interface ValidationReport {
  pluginReports?: {
    pluginName: string;
    violations?: { ruleName: string; severity: string; violatingConstructs?: { constructPath: string }[] }[];
  }[];
}

function readReport(outdir: string): ReportViolation[] {
  const file = join(outdir, 'validation-report.json');
  if (!existsSync(file)) return [];
  const report = JSON.parse(readFileSync(file, 'utf8')) as ValidationReport;
  return (report.pluginReports ?? []).flatMap((p) =>
    (p.violations ?? []).map((v) => ({
      pluginName: p.pluginName,
      ruleName: v.ruleName,
      severity: v.severity,
      constructs: (v.violatingConstructs ?? []).map((c) => c.constructPath),
    })),
  );
}

/**
 * @param context extra context (profile, overrides)
 * @param options.nag register the AwsSolutions plugin (synthesis throws on unacknowledged errors)
 * @param options.cfnValidation run CDK's offline CloudFormation validator (about 5 s per synth)
 */
export function synth(
  context: Record<string, unknown>,
  options: { nag?: boolean; cfnValidation?: boolean } = {},
): Synthesized {
  const { app, stack, config } = buildApp({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const previous = process.env.CDK_VALIDATION;
  process.env.CDK_VALIDATION = (options.cfnValidation ?? true) ? 'true' : 'false';
  try {
    // The deployment as one template: nested stacks flattened into the parent, as the local run reads it.
    const nested = stack.node
      .findAll()
      .filter((c): c is NestedStack => NestedStack.isNestedStack(c))
      .map((n) => ({
        logicalId: stack.getLogicalId(n.nestedStackResource as CfnElement),
        template: Template.fromStack(n).toJSON(),
      }));
    const json = flattenNestedStacks(Template.fromStack(stack).toJSON(), nested) as unknown as CfnTemplate;
    const template = Template.fromJSON(json as unknown as Record<string, unknown>);
    return {
      app,
      stack,
      config,
      template,
      json,
      validationViolations: readReport(app.outdir),
    };
  } finally {
    if (previous === undefined) delete process.env.CDK_VALIDATION;
    else process.env.CDK_VALIDATION = previous;
  }
}

/** Resources of one type, by logical id. */
export function resourcesOfType(json: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(json.Resources).filter(([, r]) => r.Type === type);
}

/** Logical ids of resources of a type. */
export function logicalIdsOfType(json: CfnTemplate, type: string): string[] {
  return resourcesOfType(json, type).map(([id]) => id);
}

/**
 * Flattens CloudFormation intrinsics to strings: `{Ref: X}` → `<X>`, `{Fn::GetAtt: [X, Arn]}` → `<X.Arn>`,
 * `Fn::Join` concatenated. Used to read a state machine definition or an ARN.
 */
export function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if ('Ref' in v) return `<${String(v.Ref)}>`;
    if ('Fn::GetAtt' in v) {
      const [id, attr] = v['Fn::GetAtt'] as [string, string];
      return `<${id}.${attr}>`;
    }
    if ('Fn::Join' in v) {
      const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map(flatten).join(sep);
    }
  }
  return JSON.stringify(value);
}
