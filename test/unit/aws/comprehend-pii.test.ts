import { ComprehendClient, DetectPiiEntitiesCommand } from '@aws-sdk/client-comprehend';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ComprehendRedactor } from '#aws/comprehend-pii.ts';

const comprehendMock = mockClient(ComprehendClient);

describe('ComprehendRedactor', () => {
  const redactor = new ComprehendRedactor(new ComprehendClient({ region: 'us-east-1' }));
  beforeEach(() => comprehendMock.reset());

  it('replaces confident entities with typed placeholders and counts them', async () => {
    const text = 'Maria Garcia lives at 12 Rue de Rivoli, Paris.';
    comprehendMock.on(DetectPiiEntitiesCommand).resolves({
      Entities: [
        { Type: 'NAME', Score: 0.99, BeginOffset: 0, EndOffset: 12 },
        { Type: 'ADDRESS', Score: 0.97, BeginOffset: 22, EndOffset: 45 },
        { Type: 'DATE_TIME', Score: 0.4, BeginOffset: 0, EndOffset: 5 },
      ],
    });
    const counts: Record<string, number> = {};
    expect(await redactor.redactText(text, counts)).toBe('[NAME] lives at [ADDRESS].');
    expect(counts).toEqual({ COMPREHEND_NAME: 1, COMPREHEND_ADDRESS: 1 });
  });

  it('walks text fields of a record and leaves roles, ids and metadata alone', async () => {
    comprehendMock.on(DetectPiiEntitiesCommand).callsFake((input: { Text: string }) => ({
      Entities: input.Text.startsWith('Ask Bob')
        ? [{ Type: 'NAME', Score: 0.95, BeginOffset: 4, EndOffset: 7 }]
        : [],
    }));
    const record = {
      id: 'Bob',
      messages: [
        { role: 'user', content: 'Ask Bob about it' },
        { role: 'assistant', content: 'Sure.' },
      ],
      metadata: { owner: 'Bob' },
    };
    const counts: Record<string, number> = {};
    await redactor.redactRecord(record, counts);
    expect(record).toEqual({
      id: 'Bob',
      messages: [
        { role: 'user', content: 'Ask [NAME] about it' },
        { role: 'assistant', content: 'Sure.' },
      ],
      metadata: { owner: 'Bob' },
    });
    expect(comprehendMock.commandCalls(DetectPiiEntitiesCommand)).toHaveLength(2);
  });

  it('splits texts over the 100 KB request limit', async () => {
    comprehendMock.on(DetectPiiEntitiesCommand).resolves({ Entities: [] });
    const paragraph = `${'word '.repeat(2000)}\n`;
    await redactor.redactText(paragraph.repeat(25), {});
    for (const call of comprehendMock.commandCalls(DetectPiiEntitiesCommand)) {
      expect(Buffer.byteLength(call.args[0].input.Text ?? '')).toBeLessThanOrEqual(100_000);
    }
    expect(comprehendMock.commandCalls(DetectPiiEntitiesCommand).length).toBeGreaterThan(1);
  });
});
