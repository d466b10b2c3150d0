// RMSNorm (Hugging Face LlamaRMSNorm): y = x * rsqrt(mean(x^2) + eps) * w, one row per token; and
// LayerNorm's forward (SigLIP), which shares the row machinery.
//
// The forward and the dx half of the backward are row reductions over `dim`: one workgroup per row,
// threads stride over the row so neighbouring threads touch neighbouring floats, and groupSum
// (shaders/lib/reduce*.wgsl, linked in front of this file: subgroup operations where the device
// has them, a tree in workgroup memory elsewhere) combines their partial sums. The dw half is a reduction over rows;
// it is column-parallel (a thread owns one column of a CX-wide strip and a 1/CY share of the rows)
// so that it needs neither atomics nor a scratch buffer and is bitwise deterministic.
//
// Bindings are shared by all entry points so that one launcher convention serves them:
//   1 x [rows, dim]   2 w [dim]   3 rstd [rows]   4 y (forward) or dy (backward) [rows, dim]
//   5 dx [rows, dim]  6 dw [dim]   7 bias [dim] (LayerNorm)

struct Params {
  rows: u32,
  dim: u32,
  eps: f32,
  accumulate: u32, // backward dx: 1 adds into dx instead of overwriting it
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> yy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> dw: array<f32>;
@group(0) @binding(7) var<storage, read_write> bias: array<f32>;

// Threads per row for the row kernels; must be a power of two for the tree reduction.
override WG: u32 = 256;
// dw kernel: columns per workgroup (kept at a warp's width for coalescing) x row lanes.
override CX: u32 = 32;
override CY: u32 = 8;

var<workgroup> redCols: array<f32, CX * CY>;

// Rows may exceed the per-dimension workgroup limit, so the launcher folds them into x and y.
fn rowIndex(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let row = rowIndex(wid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  var ss = 0.0;
  for (var j = lid; j < p.dim; j = j + WG) {
    let v = x[base + j];
    ss = ss + v * v;
  }
  let r = inverseSqrt(groupSum(lid, ss) / f32(p.dim) + p.eps);
  if (lid == 0u) { rstd[row] = r; }
  for (var j = lid; j < p.dim; j = j + WG) {
    yy[base + j] = x[base + j] * r * w[j];
  }
}

// LayerNorm (torch.nn.LayerNorm, SigLIP's vision tower): y = (x - mean) * rsqrt(var + eps) * w + b
// with the biased variance. Two passes over the row (mean, then squared deviations) rather than
// E[x^2] - mean^2, which cancels catastrophically when |mean| >> std, as in a residual stream.
// Forward only: the lab keeps SigLIP frozen, so nothing needs its gradient.
@compute @workgroup_size(WG)
fn layernorm_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
  let row = rowIndex(wid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  var sum = 0.0;
  for (var j = lid; j < p.dim; j = j + WG) { sum = sum + x[base + j]; }
  let mean = groupSum(lid, sum) / f32(p.dim);
  var ss = 0.0;
  for (var j = lid; j < p.dim; j = j + WG) {
    let d = x[base + j] - mean;
    ss = ss + d * d;
  }
  let r = inverseSqrt(groupSum(lid, ss) / f32(p.dim) + p.eps);
  if (lid == 0u) { rstd[row] = r; }
  for (var j = lid; j < p.dim; j = j + WG) {
    yy[base + j] = (x[base + j] - mean) * r * w[j] + bias[j];
  }
}

// With y_k = x_k r w_k and r = (mean(x^2) + eps)^-1/2, dr/dx_j = -r^3 x_j / dim, so
//   dx_j = r w_j dy_j - (r^3 / dim) x_j * sum_k dy_k w_k x_k.
@compute @workgroup_size(WG)
fn backward_dx(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let row = rowIndex(wid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  var dot = 0.0;
  for (var j = lid; j < p.dim; j = j + WG) {
    dot = dot + yy[base + j] * w[j] * x[base + j];
  }
  let total = groupSum(lid, dot);
  let r = rstd[row];
  let c = r * r * r * total / f32(p.dim);
  for (var j = lid; j < p.dim; j = j + WG) {
    let g = r * w[j] * yy[base + j] - c * x[base + j];
    if (p.accumulate != 0u) {
      dx[base + j] = dx[base + j] + g;
    } else {
      dx[base + j] = g;
    }
  }
}

// dw_j += sum_rows dy[row, j] * x[row, j] * rstd[row]
@compute @workgroup_size(CX, CY)
fn backward_dw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let j = wid.x * CX + lid.x;
  var acc = 0.0;
  if (j < p.dim) {
    for (var row = lid.y; row < p.rows; row = row + CY) {
      let k = row * p.dim + j;
      acc = acc + yy[k] * x[k] * rstd[row];
    }
  }
  let slot = lid.y * CX + lid.x;
  redCols[slot] = acc;
  workgroupBarrier();
  for (var stride = CY / 2u; stride > 0u; stride = stride / 2u) {
    if (lid.y < stride) { redCols[slot] = redCols[slot] + redCols[slot + stride * CX]; }
    workgroupBarrier();
  }
  if (lid.y == 0u && j < p.dim) {
    dw[j] = dw[j] + redCols[lid.x];
  }
}

// ---------------------------------------------------------------------------------------------
// One thread per row (Gpu.rowKernels: CPU adapters, where workgroup barriers are emulated slowly).

override RT: u32 = 64u;

fn threadRow(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * RT; }

@compute @workgroup_size(RT)
fn forward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = threadRow(gid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  var ss = 0.0;
  for (var j = 0u; j < p.dim; j++) { ss += x[base + j] * x[base + j]; }
  let r = inverseSqrt(ss / f32(p.dim) + p.eps);
  rstd[row] = r;
  for (var j = 0u; j < p.dim; j++) { yy[base + j] = x[base + j] * r * w[j]; }
}

@compute @workgroup_size(RT)
fn layernorm_forward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = threadRow(gid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  var sum = 0.0;
  for (var j = 0u; j < p.dim; j++) { sum += x[base + j]; }
  let mean = sum / f32(p.dim);
  var ss = 0.0;
  for (var j = 0u; j < p.dim; j++) {
    let d = x[base + j] - mean;
    ss += d * d;
  }
  let r = inverseSqrt(ss / f32(p.dim) + p.eps);
  rstd[row] = r;
  for (var j = 0u; j < p.dim; j++) { yy[base + j] = (x[base + j] - mean) * r * w[j] + bias[j]; }
}

@compute @workgroup_size(RT)
fn backward_dx_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = threadRow(gid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  var dot = 0.0;
  for (var j = 0u; j < p.dim; j++) { dot += yy[base + j] * w[j] * x[base + j]; }
  let r = rstd[row];
  let c = r * r * r * dot / f32(p.dim);
  for (var j = 0u; j < p.dim; j++) {
    let g = r * w[j] * yy[base + j] - c * x[base + j];
    if (p.accumulate != 0u) { dx[base + j] = dx[base + j] + g; } else { dx[base + j] = g; }
  }
}

// dw_j += sum_rows dy[row, j] * x[row, j] * rstd[row], one thread per column.
@compute @workgroup_size(RT)
fn backward_dw_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= p.dim) { return; }
  var acc = 0.0;
  for (var row = 0u; row < p.rows; row++) {
    let k = row * p.dim + j;
    acc += yy[k] * x[k] * rstd[row];
  }
  dw[j] = dw[j] + acc;
}
