import {
  BedrockRuntimeClient,
  ConverseCommand,
  type ConverseCommandOutput,
  ConverseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ModelProviderError, ValidationError } from '#aws/errors.ts';
import { BedrockProvider, converseInput } from '#aws/models/bedrock.ts';
import type { ChatRequest } from '#core/models/types.ts';
import { collect, errorOf } from '../../support/async.ts';

const bedrockMock = mockClient(BedrockRuntimeClient);
const provider = new BedrockProvider({
  client: new BedrockRuntimeClient({ region: 'us-east-1' }),
  retry: { sleep: async () => {}, random: () => 0 },
});

const meta = { $metadata: {} };
const modelId = 'anthropic.claude-haiku-4-5';
const schema = {
  type: 'object',
  properties: { verdict: { type: 'string', enum: ['yes', 'no'] }, reason: { type: 'string' } },
  required: ['verdict', 'reason'],
};
const responseFormat = { name: 'record_verdict', description: 'The verdict and why.', schema };

const request = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  modelId,
  system: 'Judge the answer.',
  messages: [{ role: 'user', content: 'Is the sky green?' }],
  temperature: 0,
  responseFormat,
  ...extra,
});

const toolAnswer = (input: unknown, extra: Partial<ConverseCommandOutput> = {}): ConverseCommandOutput => ({
  output: {
    message: {
      role: 'assistant',
      content: [{ toolUse: { toolUseId: 'tooluse_1', name: 'record_verdict', input: input as never } }],
    },
  },
  stopReason: 'tool_use',
  usage: { inputTokens: 40, outputTokens: 9, totalTokens: 49 },
  metrics: { latencyMs: 80 },
  ...meta,
  ...extra,
});

beforeEach(() => bedrockMock.reset());

describe('BedrockProvider structured output', () => {
  it('sends the schema as one forced tool and returns its input as JSON text', async () => {
    bedrockMock.on(ConverseCommand).resolves(toolAnswer({ verdict: 'no', reason: 'The sky is blue.' }));
    const result = await provider.chat(request());
    expect(JSON.parse(result.text)).toEqual({ verdict: 'no', reason: 'The sky is blue.' });
    expect(result.stopReason).toBe('end_turn');
    expect(result.usage).toEqual({ inputTokens: 40, outputTokens: 9 });
    const sent = bedrockMock.commandCalls(ConverseCommand)[0]?.args[0].input;
    expect(sent?.toolConfig).toEqual({
      tools: [
        {
          toolSpec: {
            name: 'record_verdict',
            description: 'The verdict and why.',
            inputSchema: { json: schema },
          },
        },
      ],
      toolChoice: { tool: { name: 'record_verdict' } },
    });
    expect(sent?.inferenceConfig).toEqual({ temperature: 0 });
  });

  it('reads the tool input even when the model writes text before the call', async () => {
    bedrockMock.on(ConverseCommand).resolves({
      output: {
        message: {
          role: 'assistant',
          content: [
            { text: 'Let me record that.' },
            { toolUse: { toolUseId: 't', name: 'record_verdict', input: { verdict: 'yes', reason: 'r' } } },
          ],
        },
      },
      stopReason: 'tool_use',
      ...meta,
    });
    const result = await provider.chat(request());
    expect(JSON.parse(result.text)).toEqual({ verdict: 'yes', reason: 'r' });
  });

  it('sends no tool configuration without a response format', () => {
    expect(converseInput(request({ responseFormat: undefined })).toolConfig).toBeUndefined();
  });

  it('leaves out an empty description, which Converse would reject', () => {
    const input = converseInput(request({ responseFormat: { ...responseFormat, description: '' } }));
    expect(input.toolConfig?.tools?.[0]?.toolSpec).toEqual({
      name: 'record_verdict',
      inputSchema: { json: schema },
    });
  });

  it('rejects a tool name Converse would refuse, naming the field, before any call', async () => {
    const error = await errorOf(
      provider.chat(request({ responseFormat: { ...responseFormat, name: 'record verdict!' } })),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('responseFormat.name');
    expect(bedrockMock.commandCalls(ConverseCommand)).toHaveLength(0);
  });

  it('rejects a schema that is not an object schema', () => {
    expect(() =>
      converseInput(request({ responseFormat: { ...responseFormat, schema: { type: 'string' } } })),
    ).toThrow(expect.objectContaining({ field: 'responseFormat.schema' }));
  });

  it('fails with a ModelProviderError when the model answers without calling the tool', async () => {
    bedrockMock.on(ConverseCommand).resolves({
      output: { message: { role: 'assistant', content: [{ text: 'No.' }] } },
      stopReason: 'end_turn',
      ...meta,
    });
    const error = await errorOf(provider.chat(request()));
    expect(error).toBeInstanceOf(ModelProviderError);
    expect((error as Error).message).toContain('no record_verdict object (stop reason: end_turn)');
  });

  it('returns the blocked message when the guardrail intervened instead of the tool call', async () => {
    bedrockMock.on(ConverseCommand).resolves({
      output: { message: { role: 'assistant', content: [{ text: 'Sorry, I cannot help with that.' }] } },
      stopReason: 'guardrail_intervened',
      ...meta,
    });
    const result = await provider.chat(request({ guardrail: { id: 'g1', version: '1' } }));
    expect(result.text).toBe('Sorry, I cannot help with that.');
    expect(result.stopReason).toBe('guardrail_intervened');
    expect(result.guardrail?.action).toBe('INTERVENED');
  });

  it('refuses a streamed call with a response format as a ValidationError, before any call', async () => {
    const error = await errorOf(collect(provider.chatStream(request())));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('responseFormat');
    expect(bedrockMock.commandCalls(ConverseStreamCommand)).toHaveLength(0);
  });
});
