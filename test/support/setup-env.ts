/**
 * Environment for every test tier: no AWS credentials or metadata lookups ever leave the machine, and
 * Powertools neither publishes metrics nor traces. Function variables are not set here: a test that
 * imports a handler module (which reads its configuration at import time, as at a Lambda cold start)
 * first imports the environment of that function from `test/support/env/`. Integration tests point the
 * SDK at their own emulators. The Lambda runtime's `awslambda` global (response streaming) is in place
 * before any handler module is imported, as on Lambda.
 */
import { installAwsLambdaGlobal } from '#infra/local/lambda-streaming.ts';

installAwsLambdaGlobal();
process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.AWS_REGION ??= 'us-east-1';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_TRACE_ENABLED = 'false';
