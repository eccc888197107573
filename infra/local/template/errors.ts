/** Errors raised while reading a synthesized template or resolving its intrinsic functions. */

/** Base class of every error raised while reading or resolving a template. */
export class TemplateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TemplateError';
  }
}

/** An intrinsic function that cannot be resolved locally (unknown resource, unsupported function, ...). */
export class UnresolvableIntrinsicError extends TemplateError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnresolvableIntrinsicError';
  }
}

/** `Fn::GetAtt` of an attribute the local runner does not model for that resource type. */
export class UnsupportedAttributeError extends UnresolvableIntrinsicError {
  readonly logicalId: string;
  readonly attribute: string;
  constructor(logicalId: string, type: string, attribute: string, known: readonly string[]) {
    super(
      `Fn::GetAtt ${logicalId}.${attribute}: attribute '${attribute}' of ${type} is not available locally` +
        (known.length > 0 ? ` (known: ${known.join(', ')})` : '') +
        `; pass a value through LocalTemplate's 'overrides' option if the runner needs it`,
    );
    this.name = 'UnsupportedAttributeError';
    this.logicalId = logicalId;
    this.attribute = attribute;
  }
}

/** A Lambda function without the `llmops:entry` metadata that maps it to its handler module. */
export class MissingLambdaMetadataError extends TemplateError {
  readonly logicalIds: readonly string[];
  constructor(logicalIds: readonly string[]) {
    super(
      `Lambda function(s) without 'llmops:entry' metadata: ${logicalIds.join(', ')}. Every function the ` +
        `runner invokes must record its handler module when it is defined (Metadata 'llmops:entry'); list ` +
        `functions that are not the project's (e.g. CDK custom-resource providers) in 'ignoreFunctions'.`,
    );
    this.name = 'MissingLambdaMetadataError';
    this.logicalIds = logicalIds;
  }
}
