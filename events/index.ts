export * from './dataset-ready.ts';
export * from './document-indexed.ts';
export * from './envelope.ts';
export * from './interaction-recorded.ts';
export * from './pipeline-failed.ts';
export * from './s3-object-created.ts';
export * from './sfn-execution-status-change.ts';
