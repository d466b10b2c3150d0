// Token log-probabilities, entropies and their gradient, over rows of logits [N, V] where V (the
// vocabulary, 32k-150k) is far wider than a workgroup.
//
// One workgroup per row. Each thread walks the row with stride WG (neighbouring threads read
// neighbouring logits) keeping an online softmax state, so the row is read once:
//   m = running max of z = logit * invTemp,  s = sum exp(z - m),  w = sum exp(z - m) (z - m).
// When m grows, s and w are rescaled to the new max. The per-thread states are merged by a tree
// reduction in workgroup memory. Then log Z = m + log s, log p_t = z_t - log Z, and the entropy
// -sum p log p = log s - w / s.
//
// Bindings:
//   1 logits [N, V]   2 targets i32 [N] (< 0 or >= V: ignored row)
//   forward:  3 logp [N]   4 entropy [N]
//   backward: 3 coef [N]   4 dlogits [N, V]  (backward_inplace writes the gradient over binding 1)

struct Params {
  n: u32,
  v: u32,
  invTemp: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> rowOut: array<f32>;
@group(0) @binding(4) var<storage, read_write> wide: array<f32>;

// Threads per row; a power of two for the tree reduction.
override WG: u32 = 256;

var<workgroup> redM: array<f32, WG>;
var<workgroup> redS: array<f32, WG>;
var<workgroup> redW: array<f32, WG>;
var<workgroup> rowTarget: i32;
var<workgroup> rowCoef: f32;

// The state of a thread that has seen no element; merges treat s == 0 as empty, so m is never used.
const EMPTY = vec3<f32>(0.0, 0.0, 0.0);

// Merge two online-softmax states (m, s, w).
fn merge(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
  if (b.y == 0.0) { return a; }
  if (a.y == 0.0) { return b; }
  let m = max(a.x, b.x);
  let da = a.x - m;
  let db = b.x - m;
  let ea = exp(da);
  let eb = exp(db);
  return vec3<f32>(m, ea * a.y + eb * b.y, ea * (a.z + da * a.y) + eb * (b.z + db * b.y));
}

fn rowIndex(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// (max, sum of exp, sum of exp * (z - max)) over one row of z = logits * invTemp, for all threads.
// Must be called in workgroup-uniform control flow.
fn rowStats(base: u32, lid: u32) -> vec3<f32> {
  var st = EMPTY;
  if (lid < p.v) {
    st = vec3<f32>(logits[base + lid] * p.invTemp, 1.0, 0.0);
  }
  for (var j = lid + WG; j < p.v; j = j + WG) {
    let z = logits[base + j] * p.invTemp;
    if (z > st.x) {
      let d = st.x - z;
      let e = exp(d);
      st = vec3<f32>(z, st.y * e + 1.0, e * (st.z + d * st.y));
    } else {
      let d = z - st.x;
      let e = exp(d);
      st = vec3<f32>(st.x, st.y + e, st.z + e * d);
    }
  }
  redM[lid] = st.x;
  redS[lid] = st.y;
  redW[lid] = st.z;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      let o = lid + stride;
      let r = merge(vec3<f32>(redM[lid], redS[lid], redW[lid]), vec3<f32>(redM[o], redS[o], redW[o]));
      redM[lid] = r.x;
      redS[lid] = r.y;
      redW[lid] = r.z;
    }
    workgroupBarrier();
  }
  return vec3<f32>(redM[0], redS[0], redW[0]);
}

// The row's target when it is in [0, V), else -1; the same value in every thread, so branching on
// it keeps the barriers that follow in uniform control flow.
fn loadTarget(row: u32, lid: u32) -> i32 {
  if (lid == 0u) {
    let t = targets[row];
    rowTarget = select(-1, t, t >= 0 && u32(t) < p.v);
  }
  return workgroupUniformLoad(&rowTarget);
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let row = rowIndex(wid, nwg);
  if (row >= p.n) { return; }
  let t = loadTarget(row, lid);
  // Ignored rows (prompt tokens, padding) skip the pass over V entirely.
  if (t < 0) {
    if (lid == 0u) {
      rowOut[row] = 0.0;
      wide[row] = 0.0;
    }
    return;
  }
  let base = row * p.v;
  let st = rowStats(base, lid);
  if (lid == 0u) {
    let logS = log(st.y);
    rowOut[row] = logits[base + u32(t)] * p.invTemp - st.x - logS;
    wide[row] = logS - st.z / st.y;
  }
}

// The coefficient that scales row `row`'s gradient, 0 for ignored rows; uniform across the workgroup.
fn loadCoef(row: u32, lid: u32, t: i32) -> f32 {
  if (lid == 0u) {
    rowCoef = select(0.0, rowOut[row] * p.invTemp, t >= 0);
  }
  return workgroupUniformLoad(&rowCoef);
}

// d(coef * log p_t)/d logit_j = coef * invTemp * ([j == t] - p_j)
@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let row = rowIndex(wid, nwg);
  if (row >= p.n) { return; }
  let t = loadTarget(row, lid);
  let c = loadCoef(row, lid, t);
  let base = row * p.v;
  // Rows whose gradient is zero (ignored, or coef 0) are cleared without the softmax pass.
  if (c == 0.0) {
    for (var j = lid; j < p.v; j = j + WG) { wide[base + j] = 0.0; }
    return;
  }
  let st = rowStats(base, lid);
  let invS = 1.0 / st.y;
  for (var j = lid; j < p.v; j = j + WG) {
    let q = exp(logits[base + j] * p.invTemp - st.x) * invS;
    wide[base + j] = c * (select(0.0, 1.0, j == u32(t)) - q);
  }
}

// The same gradient written over the logits: each thread rewrites only elements it has just read,
// after the row's statistics are complete, so no other thread can still need the old value.
@compute @workgroup_size(WG)
fn backward_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let row = rowIndex(wid, nwg);
  if (row >= p.n) { return; }
  let t = loadTarget(row, lid);
  let c = loadCoef(row, lid, t);
  let base = row * p.v;
  if (c == 0.0) {
    for (var j = lid; j < p.v; j = j + WG) { logits[base + j] = 0.0; }
    return;
  }
  let st = rowStats(base, lid);
  let invS = 1.0 / st.y;
  for (var j = lid; j < p.v; j = j + WG) {
    let q = exp(logits[base + j] * p.invTemp - st.x) * invS;
    logits[base + j] = c * (select(0.0, 1.0, j == u32(t)) - q);
  }
}

// ---------------------------------------------------------------------------------------------
// One thread per row (Gpu.rowKernels, for CPU adapters, which emulate barriers slowly): the same
// three entry points walking the row alone. Rows fold into a 2D grid of RT-thread workgroups.

override RT: u32 = 64u;

fn threadRow(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * RT; }

// The (max, sum of exp, sum of exp * (z - max)) state of one whole row.
fn rowStatsAlone(base: u32) -> vec3<f32> {
  var st = vec3<f32>(logits[base] * p.invTemp, 1.0, 0.0);
  for (var j = 1u; j < p.v; j++) {
    let z = logits[base + j] * p.invTemp;
    if (z > st.x) {
      let d = st.x - z;
      let e = exp(d);
      st = vec3<f32>(z, st.y * e + 1.0, e * (st.z + d * st.y));
    } else {
      let d = z - st.x;
      let e = exp(d);
      st = vec3<f32>(st.x, st.y + e, st.z + e * d);
    }
  }
  return st;
}

fn validTarget(row: u32) -> i32 {
  let t = targets[row];
  return select(-1, t, t >= 0 && u32(t) < p.v);
}

@compute @workgroup_size(RT)
fn forward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = threadRow(gid, nwg);
  if (row >= p.n) { return; }
  let t = validTarget(row);
  if (t < 0) {
    rowOut[row] = 0.0;
    wide[row] = 0.0;
    return;
  }
  let base = row * p.v;
  let st = rowStatsAlone(base);
  let logS = log(st.y);
  rowOut[row] = logits[base + u32(t)] * p.invTemp - st.x - logS;
  wide[row] = logS - st.z / st.y;
}

// The scale of row `row`'s gradient: 0 for an ignored row or a coef of 0.
fn backwardScale(row: u32) -> f32 {
  let t = validTarget(row);
  return select(0.0, rowOut[row] * p.invTemp, t >= 0);
}

// Two entry points with the loop written twice: the in-place one must not mention binding 4.
@compute @workgroup_size(RT)
fn backward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = threadRow(gid, nwg);
  if (row >= p.n) { return; }
  let c = backwardScale(row);
  let base = row * p.v;
  if (c == 0.0) {
    for (var j = 0u; j < p.v; j++) { wide[base + j] = 0.0; }
    return;
  }
  let t = u32(validTarget(row));
  let st = rowStatsAlone(base);
  let invS = 1.0 / st.y;
  for (var j = 0u; j < p.v; j++) {
    wide[base + j] = c * (select(0.0, 1.0, j == t) - exp(logits[base + j] * p.invTemp - st.x) * invS);
  }
}

@compute @workgroup_size(RT)
fn backward_inplace_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = threadRow(gid, nwg);
  if (row >= p.n) { return; }
  let c = backwardScale(row);
  let base = row * p.v;
  if (c == 0.0) {
    for (var j = 0u; j < p.v; j++) { logits[base + j] = 0.0; }
    return;
  }
  let t = u32(validTarget(row));
  let st = rowStatsAlone(base);
  let invS = 1.0 / st.y;
  for (var j = 0u; j < p.v; j++) {
    logits[base + j] = c * (select(0.0, 1.0, j == t) - exp(logits[base + j] * p.invTemp - st.x) * invS);
  }
}
