/**
 * Hand-written template fragments in the shape `cdk synth` produces for this stack (LambdaInvoke tasks in
 * a DefinitionString Fn::Join, a Map with ItemProcessor, rules on the project bus and the default bus).
 */

/** A small stack: bus, bucket(s), table with GSI, three functions, one state machine, two rules. */
export function sampleTemplate(): Record<string, unknown> {
  return {
    Parameters: {
      BootstrapVersion: {
        Type: 'AWS::SSM::Parameter::Value<String>',
        Default: '/cdk-bootstrap/hnb659fds/version',
      },
      Stage: { Type: 'String', Default: 'dev' },
    },
    Conditions: {
      IsProd: { 'Fn::Equals': [{ Ref: 'Stage' }, 'prod'] },
      IsNotProd: { 'Fn::Not': [{ Condition: 'IsProd' }] },
    },
    Resources: {
      Bus8C5D5A6E: {
        Type: 'AWS::Events::EventBus',
        Properties: { Name: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, '-bus']] } },
      },
      RawBucketA1B2C3D4: { Type: 'AWS::S3::Bucket', Properties: {}, DeletionPolicy: 'Retain' },
      CuratedBucket0F1E2D3C: { Type: 'AWS::S3::Bucket' },
      ProdOnlyBucket: { Type: 'AWS::S3::Bucket', Condition: 'IsProd' },
      DatasetsTableF00D1234: {
        Type: 'AWS::DynamoDB::Table',
        Properties: {
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
            { AttributeName: 'gsi1pk', AttributeType: 'S' },
          ],
          BillingMode: 'PAY_PER_REQUEST',
          GlobalSecondaryIndexes: [
            {
              IndexName: 'gsi1',
              KeySchema: [{ AttributeName: 'gsi1pk', KeyType: 'HASH' }],
              Projection: { ProjectionType: 'ALL' },
            },
          ],
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: { SSEEnabled: true },
          TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        },
      },
      PlanRoleABCDEF: { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: {} } },
      PlanFnE1A2B3C4: {
        Type: 'AWS::Lambda::Function',
        Properties: {
          Handler: 'index.handler',
          Runtime: 'nodejs24.x',
          Role: { 'Fn::GetAtt': ['PlanRoleABCDEF', 'Arn'] },
          Timeout: 30,
          MemorySize: 512,
          Environment: {
            Variables: {
              RAW_BUCKET: { Ref: 'RawBucketA1B2C3D4' },
              TABLE_NAME: { Ref: 'DatasetsTableF00D1234' },
              TABLE_ARN: { 'Fn::GetAtt': ['DatasetsTableF00D1234', 'Arn'] },
              EVENT_BUS_NAME: { Ref: 'Bus8C5D5A6E' },
              // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax, not a JS template
              CURATED_PREFIX: { 'Fn::Sub': 's3://${CuratedBucket0F1E2D3C}/curated/${AWS::Region}' },
              STAGE: { 'Fn::If': ['IsProd', 'production', 'development'] },
              AWS_NODEJS_CONNECTION_REUSE_ENABLED: '1',
              MAX_PARTS: 8,
            },
          },
        },
        Metadata: { 'llmops:entry': 'functions/dataprep/plan.ts', 'llmops:handler': 'handler' },
      },
      ProcessFn11223344: {
        Type: 'AWS::Lambda::Function',
        Properties: {
          Handler: 'index.processPart',
          Environment: { Variables: { TABLE_NAME: { Ref: 'DatasetsTableF00D1234' } } },
        },
        Metadata: { 'llmops:entry': 'functions/dataprep/process-part.ts' },
      },
      FailedFn55667788: {
        Type: 'AWS::Lambda::Function',
        Properties: { Handler: 'index.handler' },
        Metadata: { 'llmops:entry': 'functions/pipeline-failed/handler.ts', 'llmops:handler': 'handler' },
      },
      DataPrepStateMachine99AABBCC: {
        Type: 'AWS::StepFunctions::StateMachine',
        Properties: {
          RoleArn: { 'Fn::GetAtt': ['PlanRoleABCDEF', 'Arn'] },
          DefinitionString: {
            'Fn::Join': [
              '',
              [
                '{"StartAt":"Plan","States":{"Plan":{"Next":"Parts","Type":"Task","OutputPath":"$.Payload","Resource":"arn:',
                { Ref: 'AWS::Partition' },
                ':states:::lambda:invoke","Parameters":{"FunctionName":"',
                { 'Fn::GetAtt': ['PlanFnE1A2B3C4', 'Arn'] },
                '","Payload.$":"$"}},"Parts":{"Type":"Map","End":true,"ItemsPath":"$.parts","ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"ProcessPart","States":{"ProcessPart":{"End":true,"Type":"Task","OutputPath":"$.Payload","Resource":"arn:',
                { Ref: 'AWS::Partition' },
                ':states:::lambda:invoke","Parameters":{"FunctionName":"',
                { 'Fn::GetAtt': ['ProcessFn11223344', 'Arn'] },
                '","Payload.$":"$"}}}}}},"TimeoutSeconds":3600}',
              ],
            ],
          },
        },
        Metadata: { 'llmops:pipeline': 'dataprep' },
      },
      DatasetReadyRule1234ABCD: {
        Type: 'AWS::Events::Rule',
        Properties: {
          EventBusName: { Ref: 'Bus8C5D5A6E' },
          EventPattern: {
            source: ['llmops'],
            'detail-type': ['llmops.DatasetReady'],
            detail: { purpose: ['rag'] },
          },
          State: 'ENABLED',
          Targets: [
            {
              Arn: { Ref: 'DataPrepStateMachine99AABBCC' },
              Id: 'Target0',
              RoleArn: { 'Fn::GetAtt': ['PlanRoleABCDEF', 'Arn'] },
              Input: '{"fixed":true}',
              DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['DlqQueue0A1B2C3D', 'Arn'] } },
              RetryPolicy: { MaximumRetryAttempts: 2 },
            },
          ],
        },
      },
      PipelineFailedRuleABCD1234: {
        Type: 'AWS::Events::Rule',
        Properties: {
          EventPattern: {
            source: ['aws.states'],
            'detail-type': ['Step Functions Execution Status Change'],
            detail: {
              status: ['FAILED', 'TIMED_OUT'],
              stateMachineArn: [{ Ref: 'DataPrepStateMachine99AABBCC' }],
            },
          },
          State: 'DISABLED',
          Targets: [{ Arn: { 'Fn::GetAtt': ['FailedFn55667788', 'Arn'] }, Id: 'Target0' }],
        },
      },
      DlqQueue0A1B2C3D: { Type: 'AWS::SQS::Queue' },
      AlarmTopic4455AABB: { Type: 'AWS::SNS::Topic' },
      Service: {
        Type: 'AWS::ECS::Service',
        Properties: { TaskDefinition: 'tuned-task' },
      },
    },
    Outputs: {
      RawBucketName: { Value: { Ref: 'RawBucketA1B2C3D4' } },
      StateMachineArn: { Value: { Ref: 'DataPrepStateMachine99AABBCC' } },
      ProdOnly: { Value: { Ref: 'ProdOnlyBucket' }, Condition: 'IsProd' },
    },
  };
}
