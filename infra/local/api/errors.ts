/** The API could not be served locally (unsupported feature, bad options, port in use). */
export class LocalApiError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LocalApiError';
  }
}
