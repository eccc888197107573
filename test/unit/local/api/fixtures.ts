import { request } from 'node:http';
import { Duration, type Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';

/**
 * Fixtures of the local API tests: a function the local runtime runs from a file of the test's repository
 * root, and an HTTP client for the running API.
 */

/**
 * A function whose `llmops:entry` metadata names `entry` (its `handler` export), which the local runtime
 * runs in place of the inline code a template carries.
 */
export function entryFunction(
  stack: Stack,
  id: string,
  entry: string,
  environment?: Record<string, string>,
): lambda.Function {
  const f = new lambda.Function(stack, id, {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({})'),
    timeout: Duration.seconds(5),
    ...(environment ? { environment } : {}),
  });
  const cfn = f.node.defaultChild as lambda.CfnFunction;
  cfn.addMetadata('llmops:entry', entry);
  cfn.addMetadata('llmops:handler', 'handler');
  return f;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

/** Sends one request to the API at `base` and reads the whole reply. */
export function call(
  base: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
