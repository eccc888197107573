import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';

/** Cold-start baseline of the chat function: a bare handler that imports the Bedrock Runtime client only. */
const bedrock = new BedrockRuntimeClient({});

export const handler = async (event: { modelId: string; text: string }) =>
  bedrock.send(
    new ConverseCommand({
      modelId: event.modelId,
      messages: [{ role: 'user', content: [{ text: event.text }] }],
    }),
  );
