// The bench's baseline: the lab's text model written with TensorFlow.js ops and trained with
// tfjs's own autodiff, so "engine vs tfjs" compares two implementations of one model, not two
// models. Same parameter names and layouts as src/model/config.ts (Hugging Face [out, in] weights,
// y = x·Wᵀ), same RMSNorm, RoPE (rotate_half pairing i with i + hd/2), causal GQA attention with
// repeat_kv's kv-major head grouping, SwiGLU MLP, tied or untied head, and the engine's optimizer
// step (global-norm clip, then AdamW with decoupled decay on the `decay` parameters).

import type * as tfc from '@tensorflow/tfjs-core';
import { paramSpecs, type ParamSpec, type TextConfig } from '../model/config';
import type { WeightMap } from '../model/model';
// Type only: the trainer module pulls in the whole engine model, which this baseline must not need.
import type { OptimConfig } from '../model/trainer';
import type { Tf } from './tfjs-webgpu';

type T2 = tfc.Tensor2D;
type T4 = tfc.Tensor4D;
type R4 = tfc.Rank.R4;

let instances = 0;

export class TfLlama {
  readonly specs: ParamSpec[];
  /** HF parameter name -> variable. tfjs variable names are global, hence the per-instance prefix. */
  readonly vars = new Map<string, tfc.Variable>();
  private readonly adamM = new Map<string, tfc.Variable>();
  private readonly adamV = new Map<string, tfc.Variable>();
  private readonly rope = new Map<number, { cos: tfc.Tensor3D; sin: tfc.Tensor3D }>();
  private readonly masks = new Map<number, T2>();
  private readonly prefix: string;
  step = 0;

  constructor(
    readonly tf: Tf,
    readonly cfg: TextConfig,
    weights: WeightMap,
    public optim: OptimConfig,
  ) {
    if (cfg.numHeads % cfg.numKvHeads !== 0) throw new Error(`TfLlama: ${cfg.numHeads} heads are not a multiple of ${cfg.numKvHeads} kv heads`);
    if (cfg.headDim % 2 !== 0) throw new Error(`TfLlama: head_dim ${cfg.headDim} must be even for RoPE`);
    this.specs = paramSpecs({ text: cfg });
    this.prefix = `tfllama${instances++}/`;
    for (const s of this.specs) {
      const w = weights.get(s.name);
      if (!w) throw new Error(`TfLlama: missing weight ${s.name}`);
      if (w.data.length !== s.shape.reduce((a, b) => a * b, 1)) {
        throw new Error(`TfLlama: ${s.name} has ${w.data.length} values, expected ${s.shape.join('x')}`);
      }
      this.vars.set(s.name, tf.variable(tf.tensor(w.data, s.shape, 'float32'), true, this.prefix + s.name));
    }
  }

  private p(name: string): tfc.Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`TfLlama: no parameter ${name}`);
    return v;
  }

  /** cos and sin of position * inv_freq, [T, 1, hd/2], computed in float64 and rounded once. */
  private ropeTables(T: number) {
    let r = this.rope.get(T);
    if (!r) {
      const half = this.cfg.headDim / 2;
      const c = new Float32Array(T * half),
        s = new Float32Array(T * half);
      for (let t = 0; t < T; t++) {
        for (let i = 0; i < half; i++) {
          const a = t * Math.pow(this.cfg.ropeTheta, (-2 * i) / this.cfg.headDim);
          c[t * half + i] = Math.cos(a);
          s[t * half + i] = Math.sin(a);
        }
      }
      // Kept: first built inside a tidy, reused by every later step of this length.
      r = { cos: this.tf.keep(this.tf.tensor3d(c, [T, 1, half])), sin: this.tf.keep(this.tf.tensor3d(s, [T, 1, half])) };
      this.rope.set(T, r);
    }
    return r;
  }

  /**
   * Additive causal mask for the grouped score layout [rep*T, T] (query row r*T + i may see keys
   * j <= i). -1e9 rather than -Infinity keeps every row's max finite, so softmax's gradient stays
   * NaN-free; exp(-1e9) is exactly 0 in f32.
   */
  private causalMask(T: number): T2 {
    const rep = this.cfg.numHeads / this.cfg.numKvHeads;
    let m = this.masks.get(T);
    if (!m) {
      const a = new Float32Array(rep * T * T);
      for (let r = 0; r < rep; r++) for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) a[(r * T + i) * T + j] = -1e9;
      m = this.tf.keep(this.tf.tensor2d(a, [rep * T, T]));
      this.masks.set(T, m);
    }
    return m;
  }

  private rmsNorm(x: T2, w: tfc.Tensor): T2 {
    const tf = this.tf;
    const ms = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, this.cfg.rmsNormEps))), w);
  }

  private linear(x: T2, name: string, bias: boolean): T2 {
    const y = this.tf.matMul<T2>(x, this.p(`${name}.weight`), false, true);
    return bias ? this.tf.add<T2>(y, this.p(`${name}.bias`)) : y;
  }

  /** Rotate [B, T, heads, hd] by position (rotate_half convention). */
  private applyRope(x: T4): T4 {
    const tf = this.tf;
    const [B, T, nh, hd] = x.shape;
    const half = hd / 2;
    const { cos, sin } = this.ropeTables(T);
    const x1 = tf.slice(x, [0, 0, 0, 0], [B, T, nh, half]);
    const x2 = tf.slice(x, [0, 0, 0, half], [B, T, nh, half]);
    return tf.concat<T4>([tf.sub<T4>(tf.mul(x1, cos), tf.mul(x2, sin)), tf.add<T4>(tf.mul(x2, cos), tf.mul(x1, sin))], 3);
  }

  /**
   * Causal attention with grouped KV heads. Query head h = g*rep + r reads kv head g; the rep query
   * heads of a group are stacked along the row axis so one batched matmul per group serves them
   * all, with no copy of K or V per query head.
   */
  private attention(q: T4, k: T4, v: T4): T2 {
    const tf = this.tf;
    const { numHeads: H, numKvHeads: KV, headDim: hd } = this.cfg;
    const [B, T] = q.shape;
    const rep = H / KV;
    const qg = tf.reshape(tf.transpose(tf.reshape(q, [B, T, KV, rep, hd]), [0, 2, 3, 1, 4]), [B * KV, rep * T, hd]);
    const kg = tf.reshape(tf.transpose(k, [0, 2, 1, 3]), [B * KV, T, hd]);
    const vg = tf.reshape(tf.transpose(v, [0, 2, 1, 3]), [B * KV, T, hd]);
    const scores = tf.add(tf.mul(tf.matMul(qg, kg, false, true), 1 / Math.sqrt(hd)), this.causalMask(T));
    const o = tf.matMul(tf.softmax(scores), vg);
    return tf.reshape(tf.transpose(tf.reshape(o, [B, KV, rep, T, hd]), [0, 3, 1, 2, 4]), [B * T, H * hd]);
  }

  private block(x: T2, l: number, B: number, T: number): T2 {
    const tf = this.tf;
    const c = this.cfg;
    const pre = `model.layers.${l}.`;
    const h = this.rmsNorm(x, this.p(`${pre}input_layernorm.weight`));
    const q = this.applyRope(tf.reshape<R4>(this.linear(h, `${pre}self_attn.q_proj`, c.qkvBias), [B, T, c.numHeads, c.headDim]));
    const k = this.applyRope(tf.reshape<R4>(this.linear(h, `${pre}self_attn.k_proj`, c.qkvBias), [B, T, c.numKvHeads, c.headDim]));
    const v = tf.reshape<R4>(this.linear(h, `${pre}self_attn.v_proj`, c.qkvBias), [B, T, c.numKvHeads, c.headDim]);
    const x2 = tf.add<T2>(x, this.linear(this.attention(q, k, v), `${pre}self_attn.o_proj`, c.oBias));
    const h2 = this.rmsNorm(x2, this.p(`${pre}post_attention_layernorm.weight`));
    const g = this.linear(h2, `${pre}mlp.gate_proj`, c.mlpBias);
    const u = this.linear(h2, `${pre}mlp.up_proj`, c.mlpBias);
    const act = tf.mul<T2>(tf.mul(g, tf.sigmoid(g)), u);
    return tf.add<T2>(x2, this.linear(act, `${pre}mlp.down_proj`, c.mlpBias));
  }

  /** Logits [B*T, V] for B sequences of T tokens (positions 0..T-1), row-major like the engine's. */
  logits(ids: ArrayLike<number>, B: number, T: number): T2 {
    const tf = this.tf;
    if (ids.length !== B * T) throw new Error(`TfLlama.logits: ${ids.length} ids for B*T = ${B * T}`);
    return tf.tidy(() => {
      let x = tf.gather(this.p('model.embed_tokens.weight'), tf.tensor1d(Int32Array.from(ids), 'int32')) as T2;
      for (let l = 0; l < this.cfg.numLayers; l++) x = this.block(x, l, B, T);
      x = this.rmsNorm(x, this.p('model.norm.weight'));
      const head = this.p(this.cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
      return tf.matMul(x, head, false, true);
    });
  }

  /** Mean negative log-likelihood over the targets >= 0 (the engine's training loss). */
  loss(ids: ArrayLike<number>, targets: ArrayLike<number>, B: number, T: number): tfc.Scalar {
    const tf = this.tf;
    const N = B * T;
    if (targets.length !== N) throw new Error(`TfLlama.loss: ${targets.length} targets for B*T = ${N}`);
    let count = 0;
    for (let i = 0; i < N; i++) if (targets[i] >= 0) count++;
    const coef = new Float32Array(N);
    const idx = new Int32Array(N);
    for (let i = 0; i < N; i++) {
      if (targets[i] >= 0) {
        coef[i] = -1 / Math.max(1, count);
        idx[i] = targets[i];
      }
    }
    return tf.tidy(() => {
      const logp = tf.logSoftmax(this.logits(ids, B, T));
      const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.tensor1d(idx, 'int32'), this.cfg.vocabSize)), -1);
      return tf.sum(tf.mul(picked, tf.tensor1d(coef)));
    });
  }

  /** Gradients of `loss` by parameter name, read back (tests). */
  async grads(ids: ArrayLike<number>, targets: ArrayLike<number>, B: number, T: number): Promise<Map<string, Float32Array>> {
    const { value, grads } = this.tf.variableGrads(() => this.loss(ids, targets, B, T), [...this.vars.values()]);
    const out = new Map<string, Float32Array>();
    for (const [name, v] of this.vars) out.set(name, (await grads[v.name].data()) as Float32Array);
    value.dispose();
    this.tf.dispose(Object.values(grads));
    return out;
  }

  /** One optimizer step: forward, backward (tfjs autodiff), clip, AdamW. Returns the loss. */
  async trainStep(ids: ArrayLike<number>, targets: ArrayLike<number>, B: number, T: number, lr = this.optim.lr): Promise<number> {
    const tf = this.tf;
    const o = this.optim;
    const { value, grads } = tf.variableGrads(() => this.loss(ids, targets, B, T), [...this.vars.values()]);
    this.step++;
    if (this.adamM.size === 0) {
      for (const s of this.specs) {
        const p = this.p(s.name);
        this.adamM.set(s.name, tf.variable(tf.zeros(p.shape), false, `${p.name}/adam_m`));
        this.adamV.set(s.name, tf.variable(tf.zeros(p.shape), false, `${p.name}/adam_v`));
      }
    }
    const bc1 = 1 - Math.pow(o.beta1, this.step);
    const bc2 = 1 - Math.pow(o.beta2, this.step);
    tf.tidy(() => {
      const gs = this.specs.map((s) => grads[this.p(s.name).name]);
      // Pairwise adds, not tf.addN: tfjs's AddN binds every input to one shader, which fails
      // pipeline validation once there are more tensors than maxStorageBuffersPerShaderStage.
      let sums = gs.map((g) => tf.sum(tf.square(g)));
      while (sums.length > 1) {
        const next: tfc.Tensor[] = [];
        for (let i = 0; i < sums.length; i += 2) next.push(i + 1 < sums.length ? tf.add(sums[i], sums[i + 1]) : sums[i]);
        sums = next;
      }
      const norm = tf.sqrt(sums[0]);
      const scale = o.gradClip > 0 ? tf.minimum(1, tf.div(o.gradClip, tf.add(norm, 1e-6))) : tf.scalar(1);
      this.specs.forEach((s, i) => {
        const p = this.p(s.name);
        const m = this.adamM.get(s.name)!,
          v = this.adamV.get(s.name)!;
        const g = tf.mul(gs[i], scale);
        const m2 = tf.add(tf.mul(m, o.beta1), tf.mul(g, 1 - o.beta1));
        const v2 = tf.add(tf.mul(v, o.beta2), tf.mul(tf.square(g), 1 - o.beta2));
        m.assign(m2);
        v.assign(v2);
        const denom = tf.add(tf.mul(tf.sqrt(v2), 1 / Math.sqrt(bc2)), o.eps);
        const decay = s.decay ? 1 - lr * o.weightDecay : 1;
        p.assign(tf.sub(tf.mul(p, decay), tf.div(tf.mul(m2, lr / bc1), denom)));
      });
    });
    tf.dispose(Object.values(grads));
    const loss = (await value.data())[0];
    value.dispose();
    return loss;
  }

  async exportWeights(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const [name, v] of this.vars) out.set(name, (await v.data()) as Float32Array);
    return out;
  }

  dispose(): void {
    const tf = this.tf;
    for (const m of [this.vars, this.adamM, this.adamV]) {
      for (const v of m.values()) v.dispose();
      m.clear();
    }
    for (const r of this.rope.values()) tf.dispose([r.cos, r.sin]);
    this.rope.clear();
    for (const m of this.masks.values()) m.dispose();
    this.masks.clear();
  }
}
