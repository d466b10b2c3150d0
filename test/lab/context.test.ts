// The lab's shared state: one GPU job at a time, cancel through the job's signal, and a lost
// device replaced on the next call (so a run that died with it can be resumed without a reload).
import { it, expect } from 'vitest';
import { LabContext } from '../../src/lab/context';
import { MemoryWorkspace } from '../../src/io/workspace';
import { DeviceLostError, InputError } from '../../src/engine/errors';
import type { Gpu } from '../../src/engine/gpu';

it('hands out one device until it is lost, then a fresh one; a failed acquisition is retried', async () => {
  const made: { lostError: DeviceLostError | null }[] = [];
  let fail = true;
  const ctx = new LabContext(new MemoryWorkspace(), async () => {
    if (fail) {
      fail = false;
      throw new Error('no adapter');
    }
    const g = { lostError: null };
    made.push(g);
    return g as unknown as Gpu;
  });
  await expect(ctx.gpu()).rejects.toThrow('no adapter');
  const a = await ctx.gpu();
  expect(await ctx.gpu()).toBe(a);
  made[0].lostError = new DeviceLostError('unknown', 'the GPU process crashed');
  const b = await ctx.gpu();
  expect(b).not.toBe(a);
  expect(made).toHaveLength(2);
});

it('refuses a second job while one runs, names it, and cancels through the signal', async () => {
  const ctx = new LabContext(new MemoryWorkspace(), async () => {
    throw new Error('unused');
  });
  let release!: () => void;
  const first = ctx.exclusive(
    'run sft-1',
    (signal) =>
      new Promise<string>((resolve, reject) => {
        release = () => resolve('done');
        signal.addEventListener('abort', () => reject(new Error('stopped')));
      }),
  );
  expect(ctx.busy).toBe('run sft-1');
  const second = ctx.exclusive('evaluation', async () => 'never');
  await expect(second).rejects.toBeInstanceOf(InputError);
  await expect(second).rejects.toThrow(/busy with run sft-1/);
  ctx.cancel();
  await expect(first).rejects.toThrow('stopped');
  expect(ctx.busy).toBeNull();
  const third = ctx.exclusive('evaluation', async () => 'ran');
  await expect(third).resolves.toBe('ran');
  void release;
});
