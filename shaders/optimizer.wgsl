// Optimizer kernels: the global gradient norm (for clipping) and the AdamW update.
//
// The norm is a two-level deterministic reduction with no atomics: every `sumsq_partial` launch
// owns a fixed slot of PARTS partial sums (one per workgroup, the unused tail of the slot zeroed),
// and `sumsq_finalize` folds all used slots in index order in one workgroup. The same inputs and
// the same sequence of launches therefore give bit-identical norms run after run, which keeps
// training reproducible. The clip scale never leaves the GPU: adamw reads it from `clip[1]`.
//
// All storage bindings are read_write (see stream.ts): tensors of one arena are bound together.

// groupSum comes from shaders/lib/reduce*.wgsl, which the engine links in front of this file.
override WG: u32 = 256;     // threads per workgroup; a power of two (groupSum)
override PARTS: u32 = 512;  // partial sums per accumulate slot (>= the largest partial grid)

// ---------------------------------------------------------------------------------------------
// Σ g² of one tensor range into partials[base .. base + PARTS)

struct SumsqParams {
  n: u32,       // elements of g to include
  base: u32,    // first partial of this slot (slot * PARTS)
  groups: u32,  // workgroups launched (<= PARTS); the grid stride is groups * WG
  _pad: u32,
}

@group(0) @binding(0) var<uniform> sp: SumsqParams;
@group(0) @binding(1) var<storage, read_write> sq_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(WG)
fn sumsq_partial(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let stride = sp.groups * WG;
  // Two accumulators halve the dependency chain of the loop; the loads stay coalesced
  // (consecutive threads read consecutive elements on every iteration).
  var a0 = 0.0;
  var a1 = 0.0;
  var i = wid.x * WG + t;
  loop {
    if (i >= sp.n) { break; }
    let x0 = sq_in[i];
    a0 += x0 * x0;
    let j = i + stride;
    if (j < sp.n) {
      let x1 = sq_in[j];
      a1 += x1 * x1;
    }
    i = j + stride;
  }
  let total = groupSum(t, a0 + a1);
  if (t == 0u) {
    partials[sp.base + wid.x] = total;
    // The slot has room for PARTS workgroups; zero what this launch does not use so finalize
    // can always fold whole slots.
    for (var k = wid.x + sp.groups; k < PARTS; k += sp.groups) {
      partials[sp.base + k] = 0.0;
    }
  }
}

// CPU adapters (Gpu.rowKernels): one partial per thread and no barriers (a CPU emulates each
// barrier by switching between all of a workgroup's invocations; the tree above cost 6% of a row-
// kernel training step on SwiftShader). Thread k of the launch sums contiguous chunk k of the range
// into slot k; the slots past the launch's threads are zeroed, so finalize folds whole slots alike.
override RT: u32 = 64u;

@compute @workgroup_size(RT)
fn sumsq_partial_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x;
  let threads = sp.groups * RT;
  let chunk = (sp.n + threads - 1u) / threads;
  let hi = min(sp.n, (k + 1u) * chunk);
  var a0 = 0.0;
  var a1 = 0.0;
  var i = k * chunk;
  for (; i + 1u < hi; i += 2u) {
    let x0 = sq_in[i];
    let x1 = sq_in[i + 1u];
    a0 += x0 * x0;
    a1 += x1 * x1;
  }
  if (i < hi) {
    let x0 = sq_in[i];
    a0 += x0 * x0;
  }
  partials[sp.base + k] = a0 + a1;
  for (var z = k + threads; z < PARTS; z += threads) {
    partials[sp.base + z] = 0.0;
  }
}

// ---------------------------------------------------------------------------------------------
// state[0] = sqrt(Σ partials[0 .. count)), state[1] = clip scale

struct FinalizeParams {
  count: u32,     // partials to fold (used slots * PARTS)
  max_norm: f32,  // <= 0 disables clipping
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> fp: FinalizeParams;
@group(0) @binding(1) var<storage, read_write> fin_partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;

@compute @workgroup_size(WG)
fn sumsq_finalize(@builtin(local_invocation_index) t: u32) {
  var acc = 0.0;
  for (var i = t; i < fp.count; i += WG) {
    acc += fin_partials[i];
  }
  let total = groupSum(t, acc);
  if (t == 0u) {
    let norm = sqrt(total);
    var scale = 1.0;
    // Same rule as torch.nn.utils.clip_grad_norm_: scale = min(1, max_norm / (norm + 1e-6)).
    if (fp.max_norm > 0.0) {
      scale = min(1.0, fp.max_norm / (norm + 1e-6));
    }
    state[0] = norm;
    state[1] = scale;
  }
}

// ---------------------------------------------------------------------------------------------
// AdamW, PyTorch semantics (torch.optim.AdamW, amsgrad=False, maximize=False):
//   g' = g * clip_scale
//   p  = p * (1 - lr * wd)
//   m  = b1 m + (1 - b1) g'
//   v  = b2 v + (1 - b2) g'²
//   p  = p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),   bc_k = 1 - b_k^step
// The bias corrections are computed on the host in float64 and arrive as step_size and
// inv_sqrt_bc2, so the kernel has no pow() and one rounding per constant.

struct AdamParams {
  n: u32,
  decay: f32,         // 1 - lr * weight_decay
  beta1: f32,
  beta2: f32,
  one_m_beta1: f32,
  one_m_beta2: f32,
  step_size: f32,     // lr / bc1
  inv_sqrt_bc2: f32,  // 1 / sqrt(bc2)
  eps: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> ap: AdamParams;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m1: array<f32>;
@group(0) @binding(4) var<storage, read_write> m2: array<f32>;
@group(0) @binding(5) var<storage, read_write> clip: array<f32>;

@compute @workgroup_size(WG)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // Large tensors fold the grid into 2D (grid1d); rows of the fold are nwg.x * WG threads apart.
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= ap.n) { return; }
  let g = grad[i] * clip[1];
  let m = ap.beta1 * m1[i] + ap.one_m_beta1 * g;
  let v = ap.beta2 * m2[i] + ap.one_m_beta2 * g * g;
  m1[i] = m;
  m2[i] = v;
  let denom = sqrt(v) * ap.inv_sqrt_bc2 + ap.eps;
  param[i] = param[i] * ap.decay - ap.step_size * m / denom;
}
