/**
 * CDK entry point (`cdk.json`: `npx tsx infra/app.ts`). Profile: `-c profile=dev|prod` (default dev).
 *
 * The cdk-nag AwsSolutions pack runs as a CDK policy-validation plugin: an unacknowledged finding fails
 * synthesis (and the infra tests).
 */
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from './stacks/llmops-stack.ts';

const { app } = buildApp();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
