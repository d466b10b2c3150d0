// The Models page's "Download from the Hugging Face Hub" form through its store (src/app/stores/models.ts)
// against a fake engine: what the form checks before anything is sent, the one downloadModel call
// with only the fields typed, its byte progress and Cancel on the engine lane, a failure as an alert
// on the Models page, and the new model in the list when it ends.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DownloadModelRequest, EngineApi, ModelInfo, Progress } from '../../src/lab/api';
import { setEngine } from '../../src/app/engine-client';
import { useJobs } from '../../src/app/stores/jobs';
import { DEFAULT_HUB_FORM, downloadRequest, hubFormProblem, hubModelName, useModels } from '../../src/app/stores/models';

/** A fake engine: every call not given here rejects, as an unbuilt worker call would. */
function fake(calls: Partial<EngineApi>): EngineApi {
  return new Proxy(calls as EngineApi, {
    get: (t, k: string) =>
      k in t
        ? (t as unknown as Record<string, unknown>)[k]
        : async () => {
            throw new Error(`fake engine: no ${k}`);
          },
  });
}

const info = (path: string): ModelInfo =>
  ({ path, cfg: { text: {} }, params: 256_000_000, bytes: 513_000_000, trainBytes: 0, inferBytes: 0 }) as unknown as ModelInfo;

beforeEach(() => {
  useJobs.setState({ job: null, engineBusy: null, alerts: [] });
  useModels.setState({ models: [], loaded: false, current: null, chosen: false, hub: DEFAULT_HUB_FORM, downloaded: null });
});
afterEach(() => setEngine(null));

describe('the download form', () => {
  it('starts on SmolVLM-256M-Instruct, named after the repository, and says what is wrong before anything is sent', () => {
    expect(DEFAULT_HUB_FORM.repo).toBe('HuggingFaceTB/SmolVLM-256M-Instruct');
    expect(hubModelName(DEFAULT_HUB_FORM)).toBe('SmolVLM-256M-Instruct');
    expect(hubFormProblem(DEFAULT_HUB_FORM, [])).toBeNull();
    expect(hubFormProblem(DEFAULT_HUB_FORM, ['SmolVLM-256M-Instruct'])).toBe('"SmolVLM-256M-Instruct" is taken');
    expect(hubFormProblem({ ...DEFAULT_HUB_FORM, name: 'smol-2' }, ['SmolVLM-256M-Instruct'])).toBeNull();
    expect(hubFormProblem({ ...DEFAULT_HUB_FORM, repo: 'SmolVLM' }, [])).toMatch(/is not a hub model id \(owner\/name\)/);
    expect(hubFormProblem({ ...DEFAULT_HUB_FORM, repo: '' }, [])).toMatch(/type a model id/);
    expect(hubFormProblem({ ...DEFAULT_HUB_FORM, endpoint: 'ftp://mirror' }, [])).toMatch(/http\(s\) URL/);
    expect(hubFormProblem({ ...DEFAULT_HUB_FORM, revision: 'refs/pr/1' }, [])).toMatch(/not a branch, tag or commit name/);
    expect(hubFormProblem({ ...DEFAULT_HUB_FORM, name: 'a b' }, [])).toMatch(/use 1 to 64 letters/);
    expect(downloadRequest(DEFAULT_HUB_FORM)).toEqual({ repo: 'HuggingFaceTB/SmolVLM-256M-Instruct' });
    expect(downloadRequest({ repo: ' o/m ', name: ' m2 ', revision: 'v1', endpoint: 'https://mirror.test', token: ' hf_x ' })).toEqual({
      repo: 'o/m',
      name: 'm2',
      revision: 'v1',
      endpoint: 'https://mirror.test',
      token: 'hf_x',
    });
  });

  it('downloads with byte progress on the engine lane, then lists the model and says so', async () => {
    const calls: DownloadModelRequest[] = [];
    let report!: (p: Progress) => void;
    let finish!: () => void;
    let listed: ModelInfo[] = [];
    setEngine(
      fake({
        busy: async () => null,
        listModels: async () => listed,
        listRuns: async () => [],
        storage: async () => ({ usage: 0, quota: 0 }),
        downloadModel: (req, onProgress) => {
          calls.push(req);
          report = onProgress!;
          return new Promise((res) => {
            finish = () => {
              listed = [info('models/SmolVLM-256M-Instruct')];
              res(listed[0]);
            };
          });
        },
      }),
    );
    const pending = useModels.getState().download();
    expect(calls).toEqual([{ repo: 'HuggingFaceTB/SmolVLM-256M-Instruct' }]);
    const job = useJobs.getState().job;
    expect(job).toMatchObject({
      kind: 'download',
      label: 'Downloading HuggingFaceTB/SmolVLM-256M-Instruct as models/SmolVLM-256M-Instruct',
      cancelLabel: 'Cancel',
    });
    report({ phase: 'file 7/7 model.safetensors: 100 MB of 513 MB', done: 100e6, total: 513e6, etaSeconds: 40 });
    expect(useJobs.getState().job?.progress).toMatchObject({ done: 100e6, total: 513e6, secondsLeft: 40 });
    finish();
    expect((await pending)?.path).toBe('models/SmolVLM-256M-Instruct');
    expect(useJobs.getState().job).toBeNull();
    expect(useModels.getState().downloaded?.path).toBe('models/SmolVLM-256M-Instruct');
    expect(useModels.getState().models.map((m) => m.path)).toEqual(['models/SmolVLM-256M-Instruct']);
    // The name it now has is taken: the same form would be refused without a call.
    expect(hubFormProblem(useModels.getState().hub, ['SmolVLM-256M-Instruct'])).toMatch(/is taken/);
    expect(useJobs.getState().alerts).toEqual([]);
  });

  it('Cancel reaches the engine, and the outcome is a quiet note; a failure is an alert on the Models page', async () => {
    let reject!: (e: Error) => void;
    let cancels = 0;
    setEngine(
      fake({
        busy: async () => null,
        listModels: async () => [],
        listRuns: async () => [],
        storage: async () => ({ usage: 0, quota: 0 }),
        cancel: async () => {
          cancels++;
          reject(new Error('the download of HuggingFaceTB/SmolVLM-256M-Instruct was cancelled; what arrived is kept, and downloading it again resumes it'));
        },
        downloadModel: () =>
          new Promise((_, rej) => {
            reject = rej;
          }),
      }),
    );
    const pending = useModels.getState().download();
    await useJobs.getState().cancel();
    expect(await pending).toBeUndefined();
    expect(cancels).toBe(1);
    expect(useJobs.getState().alerts).toMatchObject([
      { level: 'info', message: 'Downloading HuggingFaceTB/SmolVLM-256M-Instruct as models/SmolVLM-256M-Instruct: cancelled.', page: 'models' },
    ]);

    useJobs.setState({ alerts: [] });
    const msg =
      'hf big/model: too big for this adapter: 7,000,000,000 parameters: its weights need 28.0 GB, more than the 16.0 GB of memory this adapter has; nothing was downloaded';
    setEngine(
      fake({
        busy: async () => null,
        listModels: async () => [],
        listRuns: async () => [],
        storage: async () => ({ usage: 0, quota: 0 }),
        downloadModel: async () => {
          throw new Error(msg);
        },
      }),
    );
    useModels.getState().setHub({ repo: 'big/model' });
    expect(await useModels.getState().download()).toBeUndefined();
    expect(useJobs.getState().alerts).toMatchObject([{ level: 'error', message: msg, page: 'models' }]);
  });

  it("a download that ends well answers the earlier try's alert; editing the form drops its notice", async () => {
    setEngine(
      fake({
        busy: async () => null,
        listModels: async () => [],
        listRuns: async () => [],
        storage: async () => ({ usage: 0, quota: 0 }),
        downloadModel: async () => info('models/SmolVLM-256M-Instruct'),
      }),
    );
    useJobs
      .getState()
      .alert('hf HuggingFaceTB/SmolVLM-256M-Instruct: the download of model.safetensors was cut after 9 of 99 bytes; run again to resume', 'error', 'models');
    useJobs.getState().alert('hf other/model: no model other/model on https://huggingface.co', 'error', 'models');
    await useModels.getState().download();
    expect(useJobs.getState().alerts.map((a) => a.message)).toEqual(['hf other/model: no model other/model on https://huggingface.co']);
    expect(useModels.getState().downloaded?.path).toBe('models/SmolVLM-256M-Instruct');
    useModels.getState().setHub({ name: 'second' });
    expect(useModels.getState().downloaded).toBeNull();
  });

  it('a form with a problem is not sent', async () => {
    let called = false;
    setEngine(
      fake({
        downloadModel: async () => {
          called = true;
          return info('models/x');
        },
      }),
    );
    useModels.getState().setHub({ repo: 'not-a-repo' });
    expect(await useModels.getState().download()).toBeUndefined();
    expect(called).toBe(false);
    expect(useJobs.getState().alerts[0]).toMatchObject({ level: 'error', page: 'models' });
  });
});
