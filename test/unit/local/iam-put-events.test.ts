import { describe, expect, it } from 'vitest';
import type { SdkCall } from '#aws/sdk-call-hooks.ts';
import { iamRequestsFor } from '#infra/local/iam/actions.ts';
import type { Caller } from '#infra/local/iam/caller.ts';
import { AccessDeniedError, LocalIam } from '#infra/local/iam/evaluator.ts';
import { LocalTemplate } from '#infra/local/template.ts';

/**
 * A publisher's role allows events:PutEvents only for the events it publishes (`bindEventBus`:
 * `ForAllValues:StringEquals` on `events:source` and `events:detail-type`, and a `Null` check). The local
 * run checks every entry of a PutEvents call against it, so a wrong condition, or an event the code
 * publishes that the role does not name, fails locally as it would on AWS.
 */
const ACCOUNT = '000000000000';
const BUS = `arn:aws:events:us-east-1:${ACCOUNT}:event-bus/llmops-bus`;

function template(): Record<string, unknown> {
  return {
    Resources: {
      Bus: { Type: 'AWS::Events::EventBus', Properties: { Name: 'llmops-bus' } },
      PublisherRole: { Type: 'AWS::IAM::Role', Properties: {} },
      PublisherPolicy: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          PolicyName: 'PublisherPolicy',
          Roles: [{ Ref: 'PublisherRole' }],
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Action: 'events:PutEvents',
                Resource: { 'Fn::GetAtt': ['Bus', 'Arn'] },
                Condition: {
                  'ForAllValues:StringEquals': {
                    'events:source': ['llmops'],
                    'events:detail-type': ['llmops.DatasetReady'],
                  },
                  Null: { 'events:source': 'false', 'events:detail-type': 'false' },
                },
              },
            ],
          },
        },
      },
      PublisherFn: {
        Type: 'AWS::Lambda::Function',
        Properties: { Role: { 'Fn::GetAtt': ['PublisherRole', 'Arn'] } },
        Metadata: { 'llmops:entry': 'functions/publisher.ts' },
      },
    },
  };
}

const publisher: Caller = { logicalId: 'PublisherFn', functionName: 'PublisherFn' };
const putEvents = (...entries: Record<string, unknown>[]): SdkCall => ({
  clientName: 'EventBridgeClient',
  commandName: 'PutEventsCommand',
  input: { Entries: entries.map((entry) => ({ EventBusName: 'llmops-bus', Detail: '{}', ...entry })) },
});
const entry = (Source: string, DetailType: string) => ({ Source, DetailType });

async function denial(promise: Promise<unknown>): Promise<AccessDeniedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AccessDeniedError);
  return error as AccessDeniedError;
}

describe('PutEvents in the local IAM evaluation', () => {
  const local = new LocalTemplate(template(), { namePrefix: 'iam' });
  const iam = new LocalIam(local);

  it('makes one request per entry, each with its own events:source and events:detail-type', () => {
    const call = putEvents(
      entry('llmops', 'llmops.DatasetReady'),
      entry('llmops', 'llmops.DatasetReady'),
      entry('llmops', 'llmops.PipelineFailed'),
    );
    const requests = iamRequestsFor(call, {
      partition: 'aws',
      region: 'us-east-1',
      account: ACCOUNT,
      bucketKey: () => undefined,
    });
    expect(requests).toEqual([
      {
        action: 'events:PutEvents',
        resource: BUS,
        context: { 'events:source': 'llmops', 'events:detail-type': 'llmops.DatasetReady' },
      },
      {
        action: 'events:PutEvents',
        resource: BUS,
        context: { 'events:source': 'llmops', 'events:detail-type': 'llmops.DatasetReady' },
      },
      {
        action: 'events:PutEvents',
        resource: BUS,
        context: { 'events:source': 'llmops', 'events:detail-type': 'llmops.PipelineFailed' },
      },
    ]);
  });

  it('allows the events the role names', async () => {
    await expect(
      iam.authorize(publisher, putEvents(entry('llmops', 'llmops.DatasetReady'))),
    ).resolves.toBeUndefined();
  });

  it('denies an event of another detail-type, or of another source, as AWS would', async () => {
    for (const wrong of [entry('llmops', 'llmops.PipelineFailed'), entry('aws.s3', 'llmops.DatasetReady')]) {
      const error = await denial(iam.authorize(publisher, putEvents(wrong)));
      expect(error.name).toBe('AccessDeniedException');
      expect(error.message).toContain(
        `events:PutEvents on resource: ${BUS} because no identity-based policy`,
      );
    }
  });

  it('denies a batch in which one entry is not one of the events the role names', async () => {
    await denial(
      iam.authorize(
        publisher,
        putEvents(entry('llmops', 'llmops.DatasetReady'), entry('llmops', 'llmops.PipelineFailed')),
      ),
    );
  });

  it('denies an entry without a source or detail-type (the Null check: no empty-set loophole)', async () => {
    await denial(iam.authorize(publisher, putEvents({ DetailType: 'llmops.DatasetReady' })));
    await denial(iam.authorize(publisher, putEvents({ Source: 'llmops' })));
  });
});
