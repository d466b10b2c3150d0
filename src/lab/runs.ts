// SFT and GRPO runs in the workspace: runs/NAME/ holds what src/recipe/run-io.ts describes
// (run.json, run_config.json, metrics.jsonl, rollouts.jsonl, checkpoint-STEP/). A run is the same
// driver `thinker sft/grpo` runs (src/recipe/sft-run.ts, grpo-run.ts); here its folders are
// workspace folders ("models/NAME", "runs/R/checkpoint-S", "datasets/D/...") and it holds the GPU
// as one exclusive job, whose signal is the stop.
//
// A run belongs to one tab: the lab holds the run's lock (locks.ts) from before it touches the
// folder until the job ends, so another tab cannot start, resume, restart or delete it meanwhile,
// and lists it as 'running-elsewhere'. A tab closed mid-run leaves run.json saying 'running' and
// frees the lock; a lab that finds it so reports it 'interrupted', and resumeRun continues it from
// its last complete checkpoint (its metrics cut back to that step, so the charts read as one run).
// A run cut off before its first checkpoint has nothing to resume from: restartRun runs it again
// from step 0 with the same settings, its old metrics, records and checkpoints cleared.
import { InputError } from '../engine/errors';
import { subWorkspace, type Workspace } from '../io/workspace';
import { applyOverrides, sftConfigFrom, type SftConfig } from '../recipe/sft-config';
import { applyGrpoOverrides, grpoConfigFrom, type GrpoConfig } from '../recipe/grpo-config';
import type { GroupRecord } from '../recipe/grpo';
import type { RunEvent, RunInfo, RunKind } from '../recipe/run-events';
import { METRICS_FILE, MetricsLog, ROLLOUTS_FILE, findResume, listCheckpoints, readRunInfo, type ResumePoint } from '../recipe/run-io';
import { runSftJob } from '../recipe/sft-run';
import type { FolderResolver } from '../recipe/job';
import { runGrpoJob } from '../recipe/grpo-run';
import { estimateRun } from '../recipe/estimate';
import type { EngineApi } from './api';
import type { LabContext } from './context';

type Calls = Pick<
  EngineApi,
  'startRun' | 'estimateRun' | 'resumeRun' | 'restartRun' | 'stopRun' | 'listRuns' | 'runMetrics' | 'rolloutSteps' | 'rollouts' | 'deleteRun'
>;

const RUNS = 'runs';
const runPath = (name: string) => `${RUNS}/${name}`;

/** A run name is one folder name that reads the same on every file system. */
export function checkRunName(name: unknown): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(name) || /^\.+$/.test(name)) {
    throw new InputError('run name', `${JSON.stringify(name)}: use 1-100 letters, digits, ".", "_" or "-" (not only dots)`);
  }
  return name;
}

const checkKind = (kind: unknown): RunKind => {
  if (kind !== 'sft' && kind !== 'grpo') throw new InputError('run kind', `must be "sft" or "grpo", got ${JSON.stringify(kind)}`);
  return kind;
};

/** `read`, tried again (after 50 ms, then 100) when it fails: another tab may be writing what it reads. */
async function readingAgain<T>(read: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await read();
    } catch (e) {
      if (tries >= 3) throw e;
      await new Promise((r) => setTimeout(r, 50 * tries));
    }
  }
}

export function runsApi(ctx: LabContext): Calls {
  // The run this lab is running now, and how a stop asked for it is recorded.
  let active: { name: string; stopAs: 'paused' | 'stopped' } | null = null;

  /** Folders a config names are folders of the workspace. */
  const folders: FolderResolver = (ref, where) => {
    if (ref === '' || ref === '.') return ctx.ws;
    try {
      return subWorkspace(ctx.ws, ref);
    } catch {
      throw new InputError(where, `"${ref}" is not a folder of the workspace (e.g. models/NAME, runs/NAME/checkpoint-STEP or datasets/NAME)`);
    }
  };

  const runFolder = (name: string): Workspace => subWorkspace(ctx.ws, runPath(checkRunName(name)));

  /**
   * Each run's last run.json read here. Another tab running a run rewrites its run.json every step,
   * and a read that meets the write can fail (Chrome: NotReadableError once the file changed under
   * the File it read); the listing then shows that run as last read, instead of dropping it, which
   * made the Train page stop following it (the run gone from the list, its view with it).
   */
  const lastInfo = new Map<string, RunInfo>();

  /** run.json, read again a few times when another tab is writing it. */
  async function readListed(run: Workspace, name: string, held: boolean): Promise<RunInfo | null> {
    const read = async () => {
      const info = await readRunInfo(run);
      if (!info) throw new Error('no run.json');
      return info;
    };
    try {
      const info = await (held ? readingAgain(read) : read());
      lastInfo.set(name, info);
      return info;
    } catch {
      return held ? (lastInfo.get(name) ?? null) : null;
    }
  }

  /** `fn` as the owner of run `name`; refused while another tab runs it. */
  const owning = <T>(name: string, fn: () => Promise<T>): Promise<T> =>
    ctx.locks.hold(
      runPath(name),
      `run ${name}`,
      'is running in another tab: pause or stop it there (this tab cannot resume, restart or delete it meanwhile)',
      fn,
    );

  async function existingRun(name: string): Promise<{ run: Workspace; info: RunInfo }> {
    const run = runFolder(name);
    const info = await readRunInfo(run);
    if (!info) throw new InputError(`run ${name}`, 'no such run');
    return { run, info };
  }

  /**
   * The run as the UI should see it: one whose lock another tab holds is running there, whatever
   * run.json says yet (a resume there writes 'running' a moment after taking the lock); a 'running'
   * record that no job, here or in another tab, is behind was cut off.
   */
  async function present(run: Workspace, info: RunInfo, elsewhere: Set<string>): Promise<RunInfo> {
    const status =
      active?.name === info.name
        ? info.status
        : elsewhere.has(runPath(info.name))
          ? 'running-elsewhere'
          : info.status === 'running'
            ? 'interrupted'
            : info.status;
    return { ...info, status, checkpoints: await checkpointsOf(run) };
  }

  /**
   * A run's checkpoints, read while its trainer (maybe in another tab) writes and prunes them: a
   * checkpoint folder can vanish between the listing and the look inside, so a failed read is
   * tried again before it fails the listing.
   */
  function checkpointsOf(run: Workspace): Promise<number[]> {
    return readingAgain(() => listCheckpoints(run));
  }

  /** The run's job from its run.json settings (checked again), with more steps when asked. */
  function jobOf(name: string, info: RunInfo, steps?: number) {
    const where = `run ${name} config`;
    return info.kind === 'sft'
      ? ({ kind: 'sft', config: applyOverrides(sftConfigFrom(info.config, where), steps ? [`maxSteps=${steps}`] : [], 'totalSteps') } as const)
      : ({ kind: 'grpo', config: applyGrpoOverrides(grpoConfigFrom(info.config, where), steps ? [`steps=${steps}`] : [], 'totalSteps') } as const);
  }

  /** `replace`: the folder holds the run's earlier attempt, cleared once every input has been checked (a restart). */
  function drive(
    name: string,
    job: { kind: 'sft'; config: SftConfig } | { kind: 'grpo'; config: GrpoConfig },
    resume: ResumePoint | null,
    onEvent?: (e: RunEvent) => void,
    replace = false,
  ): Promise<RunInfo> {
    return ctx.exclusive(`run ${name}`, async (signal) => {
      const me = { name, stopAs: 'stopped' as 'paused' | 'stopped' };
      active = me;
      let final = null as RunInfo | null;
      const run = runFolder(name);
      const common = {
        run,
        name,
        open: folders,
        gpu: () => ctx.gpu(),
        signal,
        resume,
        replace,
        configWhere: `run ${name} config`,
        stopStatus: () => me.stopAs,
        onEvent: (e: RunEvent) => {
          if (e.type === 'end') final = e.run;
          onEvent?.(e);
        },
      };
      try {
        if (job.kind === 'sft') await runSftJob({ ...common, config: job.config });
        else await runGrpoJob({ ...common, config: job.config });
      } catch (e) {
        // A run that started ends 'failed' in run.json (its 'end' event came): that is its result.
        // Input found wrong before it started is the caller's error.
        if (!final) throw e;
      } finally {
        active = null;
        // A model cached from this run's folder may have been replaced or pruned.
        ctx.dropModel(runPath(name));
      }
      return final ?? (await present(run, (await readRunInfo(run))!, new Set()));
    });
  }

  return {
    async startRun(req, onEvent) {
      const name = checkRunName(req?.name);
      const kind = checkKind(req.kind);
      const where = `run ${name} config`;
      const job =
        kind === 'sft' ? ({ kind, config: sftConfigFrom(req.config, where) } as const) : ({ kind, config: grpoConfigFrom(req.config, where) } as const);
      if (job.kind === 'grpo' && !job.config.model)
        throw new InputError(where, '"model" is empty: name the start model (models/NAME or runs/NAME/checkpoint-STEP)');
      return owning(name, async () => {
        if ((await ctx.ws.listDir(runPath(name))).length > 0)
          throw new InputError(`run ${name}`, 'the name is in use: choose another, or delete that run first');
        return drive(name, job, null, onEvent);
      });
    },

    async estimateRun(req) {
      const kind = checkKind(req?.kind);
      const where = 'run config';
      const job =
        kind === 'sft' ? ({ kind, config: sftConfigFrom(req.config, where) } as const) : ({ kind, config: grpoConfigFrom(req.config, where) } as const);
      if (job.kind === 'grpo' && !job.config.model)
        throw new InputError(where, '"model" is empty: name the start model (models/NAME or runs/NAME/checkpoint-STEP)');
      return ctx.exclusive('timing the run', (signal) => estimateRun({ ...job, open: folders, gpu: () => ctx.gpu(), signal, configWhere: where }));
    },

    async resumeRun(name, onEvent, more) {
      checkRunName(name);
      if (active?.name === name) throw new InputError(`run ${name}`, 'is running now');
      const steps = more?.totalSteps;
      if (steps !== undefined && !(Number.isInteger(steps) && steps > 0)) throw new InputError('totalSteps', `must be an integer >= 1, got ${steps}`);
      return owning(name, async () => {
        const { run, info } = await existingRun(name);
        if ((await listCheckpoints(run)).length === 0) {
          throw new InputError(
            `run ${name}`,
            'has no checkpoint to resume from (it ended before its first); restart it from the start, which keeps its settings',
          );
        }
        const resume = await findResume(run, info.kind);
        return drive(name, jobOf(name, info, steps), resume, onEvent);
      });
    },

    async restartRun(name, onEvent) {
      checkRunName(name);
      if (active?.name === name) throw new InputError(`run ${name}`, 'is running now');
      return owning(name, async () => {
        const { info } = await existingRun(name);
        return drive(name, jobOf(name, info), null, onEvent, true);
      });
    },

    async stopRun(how) {
      if (how !== 'pause' && how !== 'stop') throw new InputError('stopRun', `how must be "pause" or "stop", got ${JSON.stringify(how)}`);
      if (!active) throw new InputError('stopRun', `no run is running${ctx.busy ? ` (the GPU is busy with ${ctx.busy}: cancel ends it)` : ''}`);
      active.stopAs = how === 'pause' ? 'paused' : 'stopped';
      ctx.cancel();
    },

    async listRuns() {
      const out: RunInfo[] = [];
      const elsewhere = await ctx.locks.heldElsewhere();
      for (const e of await ctx.ws.listDir(RUNS)) {
        if (e.kind !== 'dir') continue;
        const run = subWorkspace(ctx.ws, runPath(e.name));
        // A folder without a readable run.json is not a run (yet); it still blocks its name. One
        // that another tab runs is listed as last read while that tab's writes get in the way.
        const info = await readListed(run, e.name, elsewhere.has(runPath(e.name)));
        if (info) out.push(await present(run, info, elsewhere));
      }
      return out.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.name < b.name ? -1 : 1));
    },

    async runMetrics(name) {
      const { run } = await existingRun(name);
      return MetricsLog.read(run, METRICS_FILE);
    },

    async rolloutSteps(name) {
      const { run } = await existingRun(name);
      const steps = new Set((await MetricsLog.read(run, ROLLOUTS_FILE)).map((r) => r.step as number));
      return [...steps].sort((a, b) => a - b);
    },

    async rollouts(name, step) {
      const { run } = await existingRun(name);
      return (await MetricsLog.read(run, ROLLOUTS_FILE)).filter((r) => r.step === step) as unknown as GroupRecord[];
    },

    async deleteRun(name) {
      checkRunName(name);
      if (active?.name === name) throw new InputError(`run ${name}`, 'is running: stop it first');
      await owning(name, async () => {
        if ((await ctx.ws.listDir(runPath(name))).length === 0) throw new InputError(`run ${name}`, 'no such run');
        ctx.dropModel(runPath(name));
        lastInfo.delete(name);
        await ctx.ws.remove(runPath(name));
      });
    },
  };
}
