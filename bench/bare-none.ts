/** Cold-start baseline of functions that use no AWS SDK client (the OpenAPI document). */
export const handler = async (event: { body?: string }) => ({ statusCode: 200, body: event.body ?? '{}' });
