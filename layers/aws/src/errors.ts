/** The named errors live in the core (they have no AWS dependency); the AWS adapters use the same classes. */
export * from '#core/errors.ts';
