import { describe, expect, it } from 'vitest';
import {
  compilePattern,
  InvalidPatternError,
  matchesPattern,
  UnsupportedPatternError,
  validatePattern,
} from '#infra/local/event-pattern.ts';

// Example events and patterns below are copied from the Amazon EventBridge user guide; each block names
// its page (awsdocs/amazon-eventbridge-user-guide, doc_source/<page>.md, and the current
// "Comparison operators for use in event patterns" page, eb-create-pattern-operators).

/** eb-event-patterns.md: "The following event shows a simple AWS event from Amazon EC2." */
const ec2TerminatedEvent = {
  version: '0',
  id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '111122223333',
  time: '2017-12-22T18:43:48Z',
  region: 'us-west-1',
  resources: ['arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0'],
  detail: { 'instance-id': 'i-1234567890abcdef0', state: 'terminated' },
};

/** eb-event-patterns.md / eb-event-patterns-null-values.md: the Auto Scaling event. */
const autoScalingEvent = {
  version: '0',
  id: '3e3c153a-8339-4e30-8c35-687ebef853fe',
  'detail-type': 'EC2 Instance Launch Successful',
  source: 'aws.autoscaling',
  account: '123456789012',
  time: '2015-11-11T21:31:47Z',
  region: 'us-east-1',
  resources: [],
  detail: { eventVersion: '', responseElements: null },
};

/** eb-event-patterns.md, "Value matching": the (truncated) Macie Classic event. */
const macieEvent = {
  version: '0',
  id: '3e355723-fca9-4de3-9fd7-154c289d6b59',
  'detail-type': 'Macie Alert',
  source: 'aws.macie',
  account: '123456789012',
  time: '2017-04-24T22:28:49Z',
  region: 'us-east-1',
  resources: [
    'arn:aws:macie:us-east-1:123456789012:trigger/trigger_id/alert/alert_id',
    'arn:aws:macie:us-east-1:123456789012:trigger/trigger_id',
  ],
  detail: {
    'notification-type': 'ALERT_CREATED',
    name: 'Scanning bucket policies',
    tags: ['Custom_Alert', 'Insider'],
    url: 'https://lb00.us-east-1.macie.aws.amazon.com/111122223333/posts/alert_id',
    'alert-arn': 'arn:aws:macie:us-east-1:123456789012:trigger/trigger_id/alert/alert_',
    'risk-score': 80,
    trigger: {
      'rule-arn': 'arn:aws:macie:us-east-1:123456789012:trigger/trigger_id',
      'alert-type': 'basic',
      'created-at': '2017-01-02 19:54:00.644000',
      description: 'Alerting on failed enumeration of large number of bucket policie',
      risk: 8,
    },
    'created-at': '2017-04-18T00:21:12.059000',
  },
};

/** eb-event-patterns-content-based-filtering.md, "Exists matching": the event that has detail.state. */
const ec2PendingEvent = {
  version: '0',
  id: '7bf73129-1428-4cd3-a780-95db273d1602',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '123456789012',
  time: '2015-11-11T21:29:54Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111'],
  detail: { 'instance-id': 'i-abcd1111', state: 'pending' },
};

/** eb-event-patterns-content-based-filtering.md, "Exists matching": the event WITHOUT detail.state. */
const noStateEvent = {
  'detail-type': ['EC2 Instance State-change Notification'],
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341'],
  detail: { 'c-count': { c1: 100 } },
};

/** aws/event-ruler README, "Ruler by Example" (the engine behind EventBridge): the sample event. */
const rulerEvent = {
  version: '0',
  id: 'ddddd4-aaaa-7777-4444-345dd43cc333',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '012345679012',
  time: '2017-10-02T16:24:49Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
  detail: {
    'c-count': 5,
    'd-count': 3,
    'x-limit': 301.8,
    'source-ip': '10.0.0.33',
    'instance-id': 'i-000000aaaaaa00000',
    state: 'running',
  },
};

describe('matchesPattern: the user guide examples', () => {
  it('eb-event-patterns: the instance-termination pattern matches the EC2 event', () => {
    const pattern = {
      source: ['aws.ec2'],
      'detail-type': ['EC2 Instance State-change Notification'],
      detail: { state: ['terminated'] },
    };
    expect(matchesPattern(pattern, ec2TerminatedEvent)).toBe(true);
    expect(matchesPattern(pattern, ec2PendingEvent)).toBe(false);
  });

  it('eb-event-patterns "Match Values": a list of values means any of them', () => {
    const pattern = { source: ['aws.ec2', 'aws.fargate'] };
    expect(matchesPattern(pattern, ec2TerminatedEvent)).toBe(true);
    expect(matchesPattern(pattern, { ...ec2TerminatedEvent, source: 'aws.fargate' })).toBe(true);
    expect(matchesPattern(pattern, autoScalingEvent)).toBe(false);
  });

  it('eb-event-patterns "Field matching": responseElements null', () => {
    const pattern = {
      source: ['aws.autoscaling'],
      'detail-type': ['EC2 Instance Launch Successful'],
      detail: { responseElements: [null] },
    };
    expect(matchesPattern(pattern, autoScalingEvent)).toBe(true);
  });

  it('eb-event-patterns "Value matching": risk score 80 and trigger risk 8 (numbers)', () => {
    const pattern = {
      source: ['aws.macie'],
      'detail-type': ['Macie Alert'],
      detail: { 'risk-score': [80], trigger: { risk: [8] } },
    };
    expect(matchesPattern(pattern, macieEvent)).toBe(true);
    expect(matchesPattern({ ...pattern, detail: { 'risk-score': [81] } }, macieEvent)).toBe(false);
  });

  it('eb-event-patterns-null-values: empty string and null are matched, and are not interchangeable', () => {
    expect(matchesPattern({ detail: { eventVersion: [''] } }, autoScalingEvent)).toBe(true);
    expect(matchesPattern({ detail: { responseElements: [null] } }, autoScalingEvent)).toBe(true);
    expect(matchesPattern({ detail: { eventVersion: [null] } }, autoScalingEvent)).toBe(false);
    expect(matchesPattern({ detail: { responseElements: [''] } }, autoScalingEvent)).toBe(false);
  });

  it('eb-event-patterns-arrays: an event array matches when the intersection is non-empty', () => {
    const pattern = {
      resources: [
        'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
        'arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f',
        'arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f',
      ],
    };
    const event = {
      resources: [
        'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate',
        'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
      ],
    };
    expect(matchesPattern(pattern, event)).toBe(true);
    expect(
      matchesPattern(pattern, { resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-other'] }),
    ).toBe(false);
  });

  it('content filtering "Prefix matching": time starts with 2017-10-02', () => {
    const pattern = { time: [{ prefix: '2017-10-02' }] };
    expect(matchesPattern(pattern, { time: '2017-10-02T18:43:48Z' })).toBe(true);
    expect(matchesPattern(pattern, ec2TerminatedEvent)).toBe(false);
  });

  it('content filtering "Anything-but matching": string, number, lists and prefix', () => {
    expect(matchesPattern({ detail: { state: [{ 'anything-but': 'initializing' }] } }, ec2PendingEvent)).toBe(
      true,
    );
    expect(
      matchesPattern(
        { detail: { state: [{ 'anything-but': 'initializing' }] } },
        { detail: { state: 'initializing' } },
      ),
    ).toBe(false);
    expect(
      matchesPattern({ detail: { 'x-limit': [{ 'anything-but': 123 }] } }, { detail: { 'x-limit': 124 } }),
    ).toBe(true);
    expect(
      matchesPattern({ detail: { 'x-limit': [{ 'anything-but': 123 }] } }, { detail: { 'x-limit': 123 } }),
    ).toBe(false);
    const list = { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } };
    expect(matchesPattern(list, { detail: { state: 'running' } })).toBe(true);
    expect(matchesPattern(list, { detail: { state: 'overloaded' } })).toBe(false);
    const numbers = { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } };
    expect(matchesPattern(numbers, rulerEvent)).toBe(true);
    expect(matchesPattern(numbers, { detail: { 'x-limit': 200 } })).toBe(false);
    const prefix = { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } };
    expect(matchesPattern(prefix, ec2PendingEvent)).toBe(true);
    expect(matchesPattern(prefix, { detail: { state: 'initializing' } })).toBe(false);
  });

  it('content filtering "Numeric matching": all fields must hold', () => {
    const pattern = {
      detail: {
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ numeric: ['=', 3.018e2] }],
      },
    };
    expect(matchesPattern(pattern, rulerEvent)).toBe(true);
    expect(matchesPattern(pattern, { detail: { 'c-count': 6, 'd-count': 3, 'x-limit': 301.8 } })).toBe(false);
    expect(matchesPattern(pattern, { detail: { 'c-count': 0, 'd-count': 3, 'x-limit': 301.8 } })).toBe(false);
    expect(matchesPattern(pattern, { detail: { 'c-count': 5, 'd-count': 10, 'x-limit': 301.8 } })).toBe(
      false,
    );
  });

  it('content filtering "IP address matching": 10.0.0.0/24', () => {
    const pattern = { detail: { sourceIPAddress: [{ cidr: '10.0.0.0/24' }] } };
    expect(matchesPattern(pattern, { detail: { sourceIPAddress: '10.0.0.255' } })).toBe(true);
    expect(matchesPattern(pattern, { detail: { sourceIPAddress: '10.0.1.0' } })).toBe(false);
    expect(
      matchesPattern({ detail: { ip: [{ cidr: '2001:db8::/32' }] } }, { detail: { ip: '2001:db8::1' } }),
    ).toBe(true);
  });

  it('content filtering "Exists matching": detail.state present / absent; intermediate nodes are not leaves', () => {
    const exists = { detail: { state: [{ exists: true }] } };
    expect(matchesPattern(exists, ec2PendingEvent)).toBe(true);
    expect(matchesPattern(exists, noStateEvent)).toBe(false);
    // event-ruler README: exists false matches when c-count is absent, and also when it is an object.
    const notExists = { detail: { 'c-count': [{ exists: false }] } };
    expect(matchesPattern(notExists, ec2PendingEvent)).toBe(true);
    expect(matchesPattern(notExists, noStateEvent)).toBe(true);
    expect(matchesPattern(notExists, rulerEvent)).toBe(false);
  });

  it('content filtering "Complex example with multiple matching"', () => {
    const pattern = {
      time: [{ prefix: '2017-10-02' }],
      detail: {
        state: [{ 'anything-but': 'initializing' }],
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ 'anything-but': [100, 200, 300] }],
      },
    };
    expect(matchesPattern(pattern, rulerEvent)).toBe(true);
    expect(matchesPattern(pattern, { ...rulerEvent, time: '2017-10-03T00:00:00Z' })).toBe(false);
  });

  it('comparison operators page: suffix, equals-ignore-case, begins/ends with ignoring case', () => {
    expect(matchesPattern({ FileName: [{ suffix: '.png' }] }, { FileName: 'image.png' })).toBe(true);
    expect(matchesPattern({ FileName: [{ suffix: '.png' }] }, { FileName: 'image.PNG' })).toBe(false);
    expect(matchesPattern({ Name: [{ 'equals-ignore-case': 'alice' }] }, { Name: 'Alice' })).toBe(true);
    expect(
      matchesPattern(
        { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } },
        {
          detail: { service: 'eventbridge' },
        },
      ),
    ).toBe(true);
    expect(
      matchesPattern(
        { detail: { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] } },
        {
          detail: { FileName: 'A.PNG' },
        },
      ),
    ).toBe(true);
  });

  it('comparison operators page: anything-but suffix, ignore case and wildcard', () => {
    expect(
      matchesPattern({ FileName: [{ 'anything-but': { suffix: '.png' } }] }, { FileName: 'a.jpg' }),
    ).toBe(true);
    expect(
      matchesPattern({ FileName: [{ 'anything-but': { suffix: '.png' } }] }, { FileName: 'a.png' }),
    ).toBe(false);
    const ignoreCase = { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] };
    expect(matchesPattern(ignoreCase, { state: 'INITIALIZING' })).toBe(false);
    expect(matchesPattern(ignoreCase, { state: 'running' })).toBe(true);
    const wildcard = { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] };
    expect(matchesPattern(wildcard, { FilePath: 'src/lib/x.ts' })).toBe(false);
    expect(matchesPattern(wildcard, { FilePath: 'src/bin/x.ts' })).toBe(true);
  });

  it('comparison operators page: wildcard "Any file with a .png extension, located within the folder dir"', () => {
    const pattern = { EventBusArn: [{ wildcard: 'arn:aws:events:us-east-1:*:event-bus/*' }] };
    expect(
      matchesPattern(pattern, { EventBusArn: 'arn:aws:events:us-east-1:123456789012:event-bus/llmops' }),
    ).toBe(true);
    const png = { FileName: [{ wildcard: 'dir/*.png' }] };
    expect(matchesPattern(png, { FileName: 'dir/a.png' })).toBe(true);
    expect(matchesPattern(png, { FileName: 'dir/sub/a.png' })).toBe(true);
    expect(matchesPattern(png, { FileName: 'other/a.png' })).toBe(false);
    expect(matchesPattern({ v: [{ wildcard: 'a\\*b' }] }, { v: 'a*b' })).toBe(true);
    expect(matchesPattern({ v: [{ wildcard: 'a\\*b' }] }, { v: 'axb' })).toBe(false);
  });

  it('$or: "Location is New York, or Day is Monday" (operators page) and the notifications-guide example', () => {
    const pattern = { $or: [{ Location: ['New York'] }, { Day: ['Monday'] }] };
    expect(matchesPattern(pattern, { Location: 'New York', Day: 'Sunday' })).toBe(true);
    expect(matchesPattern(pattern, { Location: 'Paris', Day: 'Monday' })).toBe(true);
    expect(matchesPattern(pattern, { Location: 'Paris', Day: 'Sunday' })).toBe(false);
    const nested = { detail: { $or: [{ state: ['running'] }, { state: ['terminated'] }] } };
    expect(matchesPattern(nested, ec2TerminatedEvent)).toBe(true);
    expect(matchesPattern(nested, ec2PendingEvent)).toBe(false);
  });
});

describe('matchesPattern: edge cases', () => {
  it('numbers and strings never match each other', () => {
    expect(matchesPattern({ detail: { n: ['5'] } }, { detail: { n: 5 } })).toBe(false);
    expect(matchesPattern({ detail: { n: [5] } }, { detail: { n: '5' } })).toBe(false);
    expect(matchesPattern({ detail: { n: [{ numeric: ['=', 5] }] } }, { detail: { n: '5' } })).toBe(false);
    expect(matchesPattern({ detail: { b: [true] } }, { detail: { b: 'true' } })).toBe(false);
    expect(matchesPattern({ detail: { n: [{ prefix: '5' }] } }, { detail: { n: 55 } })).toBe(false);
  });

  it('absent fields fail every matcher except exists:false, including anything-but', () => {
    const event = { detail: {} };
    expect(matchesPattern({ detail: { x: ['a'] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { x: [{ 'anything-but': 'a' }] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { x: [{ prefix: '' }] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { x: [{ numeric: ['>', 0] }] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { x: [{ exists: false }] } }, event)).toBe(true);
    // The whole parent is missing: exists false still holds, anything else fails.
    expect(matchesPattern({ detail: { x: [{ exists: false }] } }, {})).toBe(true);
    expect(matchesPattern({ detail: { x: [{ exists: true }] } }, {})).toBe(false);
    expect(matchesPattern({ detail: { x: ['a', { exists: false }] } }, event)).toBe(true);
  });

  it('all fields must match, and a leaf pattern does not match an object value', () => {
    expect(matchesPattern({ source: ['aws.ec2'], 'detail-type': ['Other'] }, ec2TerminatedEvent)).toBe(false);
    expect(matchesPattern({ detail: ['x'] }, ec2TerminatedEvent)).toBe(false);
    expect(matchesPattern({ source: { nested: ['x'] } }, ec2TerminatedEvent)).toBe(false);
  });

  it('arrays in events: scalars by intersection, objects element by element (array-consistent)', () => {
    expect(matchesPattern({ detail: { tags: ['Insider'] } }, macieEvent)).toBe(true);
    expect(matchesPattern({ detail: { tags: [{ prefix: 'Cust' }] } }, macieEvent)).toBe(true);
    expect(matchesPattern({ detail: { tags: [{ exists: true }] } }, macieEvent)).toBe(true);
    expect(matchesPattern({ resources: [{ exists: true }] }, autoScalingEvent)).toBe(false);
    expect(matchesPattern({ resources: [{ exists: false }] }, autoScalingEvent)).toBe(true);
    const employees = {
      employees: [
        { firstName: 'John', lastName: 'Doe' },
        { firstName: 'Anna', lastName: 'Smith' },
        { firstName: 'Peter', lastName: 'Jones' },
      ],
    };
    // event-ruler README, "JSON Array Matching".
    expect(matchesPattern({ employees: { firstName: ['Anna'] } }, employees)).toBe(true);
    expect(matchesPattern({ employees: { firstName: ['Anna'], lastName: ['Jones'] } }, employees)).toBe(
      false,
    );
    expect(matchesPattern({ employees: { firstName: ['Anna'], lastName: ['Smith'] } }, employees)).toBe(true);
  });

  it('anything-but over an event array matches when some element is not excluded', () => {
    expect(matchesPattern({ tags: [{ 'anything-but': 'a' }] }, { tags: ['a', 'b'] })).toBe(true);
    expect(matchesPattern({ tags: [{ 'anything-but': 'a' }] }, { tags: ['a'] })).toBe(false);
  });

  it('non-object events never match', () => {
    expect(matchesPattern({ source: ['x'] }, null)).toBe(false);
    expect(matchesPattern({ source: ['x'] }, 'x')).toBe(false);
  });

  it('matches the pattern a CDK stack writes for the project bus', () => {
    const pattern = {
      source: ['llmops'],
      'detail-type': ['llmops.DatasetReady'],
      detail: { purpose: ['rag'] },
    };
    const event = {
      source: 'llmops',
      'detail-type': 'llmops.DatasetReady',
      detail: { purpose: 'rag', name: 'docs', version: 3 },
    };
    expect(matchesPattern(pattern, event)).toBe(true);
    expect(matchesPattern(pattern, { ...event, detail: { purpose: 'finetune' } })).toBe(false);
  });

  it('compiles a pattern once and reuses it', () => {
    const pattern = { source: ['a'] };
    expect(compilePattern(pattern)).toBe(compilePattern(pattern));
  });
});

describe('validatePattern', () => {
  it.each([
    ['a non-object pattern', ['x']],
    ['an empty pattern', {}],
    ['a leaf that is not an array', { source: 'aws.ec2' }],
    ['a numeric leaf', { detail: { n: 5 } }],
    ['an empty array', { source: [] }],
    ['an empty object', { detail: {} }],
    ['a matcher with two operators', { s: [{ prefix: 'a', suffix: 'b' }] }],
    ['exists with a non-boolean', { s: [{ exists: 'yes' }] }],
    ['numeric with an odd list', { n: [{ numeric: ['>', 0, '<'] }] }],
    ['numeric with a string bound', { n: [{ numeric: ['>', '0'] }] }],
    ['numeric with two lower bounds', { n: [{ numeric: ['>', 0, '>=', 1] }] }],
    ['a mixed anything-but list', { s: [{ 'anything-but': ['a', 1] }] }],
    ['a bad cidr', { ip: [{ cidr: '10.0.0.0/33' }] }],
    ['consecutive wildcards', { s: [{ wildcard: 'a**b' }] }],
    ['a bad wildcard escape', { s: [{ wildcard: 'a\\b' }] }],
    ['$or with one alternative', { $or: [{ a: ['x'] }] }],
    ['prefix with a number', { s: [{ prefix: 5 }] }],
    ['a nested array value', { s: [['a']] }],
  ])('rejects %s with InvalidPatternError', (_label, pattern) => {
    expect(() => validatePattern(pattern)).toThrow(InvalidPatternError);
  });

  it.each([
    ['an unknown operator', { s: [{ contains: 'x' }] }, 'contains'],
    [
      'an unknown anything-but operator',
      { s: [{ 'anything-but': { numeric: ['>', 1] } }] },
      'anything-but.numeric',
    ],
    ['an unknown prefix option', { s: [{ prefix: { wildcard: 'a*' } }] }, 'prefix.wildcard'],
  ])('rejects %s with UnsupportedPatternError naming it', (_label, pattern, operator) => {
    const error = captureError(() => validatePattern(pattern));
    expect(error).toBeInstanceOf(UnsupportedPatternError);
    expect((error as UnsupportedPatternError).operator).toBe(operator);
    expect((error as Error).message).toContain(`'${operator}'`);
  });

  it('matchesPattern throws (never returns false) for an unsupported operator', () => {
    expect(() =>
      matchesPattern({ detail: { s: [{ 'some-new-operator': 1 }] } }, { detail: { s: 'x' } }),
    ).toThrow(UnsupportedPatternError);
  });

  it('names the path of the malformed part', () => {
    const error = captureError(() => validatePattern({ detail: { state: 'running' } }));
    expect(error).toBeInstanceOf(InvalidPatternError);
    expect((error as InvalidPatternError).path).toBe('detail.state');
  });
});

function captureError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}
