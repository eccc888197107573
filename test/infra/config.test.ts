import { App, RemovalPolicy } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../infra/config.ts';

const MiB = 1024 * 1024;

describe('loadConfig', () => {
  it('defaults to the dev profile', () => {
    const config = loadConfig({});
    expect(config.profile).toBe('dev');
    expect(config.stackName).toBe('LlmOps-dev');
    expect(config.logRetentionDays).toBe(14);
    expect(config.logRetention).toBe(logs.RetentionDays.TWO_WEEKS);
    expect(config.removal).toEqual({
      data: RemovalPolicy.DESTROY,
      logs: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
      pointInTimeRecovery: false,
      deletionProtection: false,
    });
    expect(config.alerts).toEqual({ emails: [], httpsEndpoints: [] });
    expect(config.dataPrep).toEqual({
      partSizeBytes: 64 * MiB,
      maxParts: 256,
      maxConcurrency: 4,
      maxRecordBytes: 1 * MiB,
      validationRatio: 0.1,
      nearDuplicateThreshold: 0.8,
      comprehendPii: false,
      processMemoryMb: 1024,
      finalizeMemoryMb: 2048,
    });
    expect(config.eventArchiveRetentionDays).toBe(7);
    expect(config.stagingExpirationDays).toBe(7);
    expect(config.observability.powertoolsLogLevel).toBe('INFO');
  });

  it('prod retains data for a year, with PITR and deletion protection', () => {
    const config = loadConfig({ profile: 'prod' });
    expect(config.stackName).toBe('LlmOps-prod');
    expect(config.logRetention).toBe(logs.RetentionDays.ONE_YEAR);
    expect(config.removal).toEqual({
      data: RemovalPolicy.RETAIN,
      logs: RemovalPolicy.RETAIN,
      autoDeleteObjects: false,
      pointInTimeRecovery: true,
      deletionProtection: true,
    });
    expect(config.dataPrep.maxConcurrency).toBe(16);
    expect(config.dataPrep.processMemoryMb).toBe(2048);
    expect(config.dataPrep.finalizeMemoryMb).toBe(4096);
    expect(config.dataPrep.comprehendPii).toBe(false);
    expect(config.eventArchiveRetentionDays).toBe(90);
    expect(config.observability).toMatchObject({
      stateMachineLogLevel: 'ERROR',
      stateMachineIncludeExecutionData: false,
    });
  });

  it('reads context from an App (as the CLI sets it) and parses comma-separated lists and booleans', () => {
    const app = new App({
      context: {
        profile: 'prod',
        alertEmails: ' a@example.com,b@example.org ,',
        alertHttpsEndpoints: 'https://hooks.example.com/x',
        comprehendPii: 'true',
      },
    });
    const config = loadConfig(app);
    expect(config.profile).toBe('prod');
    expect(config.alerts).toEqual({
      emails: ['a@example.com', 'b@example.org'],
      httpsEndpoints: ['https://hooks.example.com/x'],
    });
    expect(config.dataPrep.comprehendPii).toBe(true);
    expect(loadConfig({ comprehendPii: false }).dataPrep.comprehendPii).toBe(false);
    expect(loadConfig({ alertEmails: ['x@example.com'] }).alerts.emails).toEqual(['x@example.com']);
  });

  it.each([
    [{ profile: 'staging' }, /context key "profile": expected one of dev, prod, got "staging"/],
    [{ profile: 42 }, /context key "profile"/],
    [
      { alertEmails: 'ok@example.com,not-an-email' },
      /context key "alertEmails\[1\]": not a valid e-mail address, got "not-an-email"/,
    ],
    [
      { alertHttpsEndpoints: 'http://insecure.example.com' },
      /context key "alertHttpsEndpoints\[0\]": must be an https:\/\/ URL/,
    ],
    [{ comprehendPii: 'yes' }, /context key "comprehendPii": expected true or false, got "yes"/],
  ])('rejects %j naming the key', (context, message) => {
    expect(() => loadConfig(context)).toThrow(ConfigError);
    expect(() => loadConfig(context)).toThrow(message);
  });

  it('reports every bad key at once', () => {
    try {
      loadConfig({ profile: 'qa', comprehendPii: 'maybe' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).problems).toHaveLength(2);
    }
  });
});
