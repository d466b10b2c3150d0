// The `webgpu` package (Dawn) as the unit test lane sees it (vitest.config.ts aliases it here): a
// unit test that reaches Dawn fails at once, naming the lane it belongs in.
throw new Error('the unit test lane has no GPU: a test that makes a Dawn device belongs in the gpu lane (see NEEDS_DEVICE in vitest.config.ts)');
