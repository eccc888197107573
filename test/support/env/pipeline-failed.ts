/** The PipelineFailed function's environment, for tests that import its handler module. */
process.env.EVENT_BUS_NAME ??= 'bus-test';
