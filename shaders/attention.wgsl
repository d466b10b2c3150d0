// Scaled dot-product attention with grouped-query heads, its backward pass, and the KV-cache write.
//
// Layouts (row-major, tokens are rows):
//   q, o, dO, dq   [B, Tq, H, hd]
//   k, v, dk, dv   [B, Tk, KVH, hd]     query head h reads kv head h / (H / KVH)
//   lse, scratch   [B, H, Tq]
//   qPos [B*Tq] u32 (with gaps: followed by [B*Tq, 2] u32), kStart [B] u32
// The keys a query row may see form one interval [lo, hi): lo = kStart[b] (left padding),
// hi = qPos + 1 (causal) or kLen (non-causal), both clamped to Tk. Iterating over that interval
// instead of masking means every key chunk we touch holds at least one live key, so the running
// max of the online softmax is finite after the first chunk and an empty row simply never loops.
// With `gaps` (GRPO's shared-prefix rows: one prompt, then its sampled responses one after the
// other), each query row also hides the keys [gLo, gHi) stored after its qPos entries: a response
// sees the prompt and its own tokens, not the responses packed between them. gLo > lo always (the
// launcher's caller keeps the prompt's first key visible), so the first chunk still holds a live key.
//
// Every attention kernel runs one workgroup per output row and walks the other side in chunks of
// WG rows. Dot products of the fixed row against a chunk go through a shared tile filled DP floats
// of a row at a time, so global reads are contiguous runs instead of one row per thread; the
// weighted sums (P·V, dS·K, ...) are done by threads that each own head-dim elements, which makes
// the reads of each chunk row contiguous across the workgroup.

struct Params {
  B: u32,
  Tq: u32,
  Tk: u32,
  H: u32,
  KVH: u32,
  hd: u32,
  causal: u32,
  kLen: u32,
  scale: f32,
  n: u32,       // kv_write: elements to copy (B * Tn * W)
  W: u32,       // kv_write: floats per token row
  Tn: u32,      // kv_write: new tokens per batch row
  Cap: u32,     // kv_write: cache capacity
  pos0: u32,    // kv_write: first cache slot written
  copies: u32,  // kv_write: cache rows each source row is written to (shared prompt prefixes)
  gaps: u32,    // 1: every query row hides the keys [gLo, gHi) stored after qPos (see the header)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;
@group(0) @binding(2) var<storage, read_write> k: array<u32>;  // f32 bits, or f16 pairs (KV_F16)
@group(0) @binding(3) var<storage, read_write> v: array<u32>;
@group(0) @binding(4) var<storage, read_write> o: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
@group(0) @binding(6) var<storage, read_write> qPos: array<u32>;
@group(0) @binding(7) var<storage, read_write> kStart: array<u32>;
@group(0) @binding(8) var<storage, read_write> dO: array<f32>;
@group(0) @binding(9) var<storage, read_write> scratch: array<f32>;
// Before attn_bwd_dq overwrites it, dq doubles as per-query-row staging: its first four floats
// per (b, i, h) row hold [lse, D, lo, hi]. That keeps every backward entry point within the
// 8 storage buffers per stage that WebGPU guarantees (the row statistics would otherwise need
// lse, scratch, qPos and kStart bound next to q, k, v, dO and the outputs).
@group(0) @binding(10) var<storage, read_write> dq: array<f32>;
@group(0) @binding(11) var<storage, read_write> dk: array<f32>;
@group(0) @binding(12) var<storage, read_write> dv: array<f32>;
@group(0) @binding(13) var<storage, read_write> kvSrc: array<f32>;
@group(0) @binding(14) var<storage, read_write> kvCache: array<u32>;

// k and v may hold f16 values: generation's KV cache at half the memory (and half the bytes every
// decoded token reads). Two per 32-bit word, element i in the low half of word i/2 when i is even,
// as matmul.wgsl's B; unpacked by the core unpack2x16float (no shader-f16 needed), so the
// arithmetic stays f32. KV_F16 is a pipeline constant: each variant compiles one load path, and
// the f32 one is a bitcast of the same load. kv_write packs what it stores. Forward only: training
// keeps k and v in f32.
override KV_F16: bool = false;
fn kAt(i: u32) -> f32 {
  if (KV_F16) { return unpack2x16float(k[i >> 1u])[i & 1u]; }
  return bitcast<f32>(k[i]);
}
fn vAt(i: u32) -> f32 {
  if (KV_F16) { return unpack2x16float(v[i >> 1u])[i & 1u]; }
  return bitcast<f32>(v[i]);
}

// The per-row kernels reduce with groupSum / groupMax from shaders/lib/reduce*.wgsl, which the
// engine links in front of this file (subgroup operations where the device has them).
override WG: u32 = 64u;      // threads per workgroup = rows per chunk; a power of two
const HDMAX: u32 = 128u;     // largest head dim
const DP: u32 = 16u;         // floats of each row per tile pass
const DPS: u32 = 17u;        // tile row stride, padded so column reads hit distinct banks
// Stands in for -inf (WGSL has no infinity literal): exp(NEG - finite) is exactly 0.
const NEG: f32 = -3.0e38;

var<workgroup> va: array<f32, HDMAX>;     // the workgroup's fixed row (pre-scaled)
var<workgroup> vb: array<f32, HDMAX>;     // a second fixed row (dO_i in dq, v_j in dk/dv)
var<workgroup> acc: array<f32, HDMAX>;    // accumulators, element d owned by thread d % WG
var<workgroup> acc2: array<f32, HDMAX>;
var<workgroup> tile: array<f32, WG * DPS>;
var<workgroup> cw: array<f32, WG>;        // per-chunk weights (probabilities or dS)
var<workgroup> cw2: array<f32, WG>;
var<workgroup> rowInfo: vec4<f32>;        // lse, D, lo, hi of the workgroup's query row
var<workgroup> range: vec2<u32>;

// Allowed keys [lo, hi) of query row (b, i); see the header.
fn keyRange(b: u32, i: u32) -> vec2<u32> {
  let lo = kStart[b];
  var hi = min(p.kLen, p.Tk);
  if (p.causal != 0u) { hi = min(qPos[b * p.Tq + i], p.Tk - 1u) + 1u; }
  return vec2<u32>(lo, hi);
}

// Keys [gap.x, gap.y) that query row (b, i) does not see besides its interval; empty without gaps.
fn keyGap(b: u32, i: u32) -> vec2<u32> {
  if (p.gaps == 0u) { return vec2<u32>(0u, 0u); }
  let e = p.B * p.Tq + 2u * (b * p.Tq + i);
  return vec2<u32>(qPos[e], qPos[e + 1u]);
}
fn outsideGap(j: u32, gap: vec2<u32>) -> bool { return j < gap.x || j >= gap.y; }

fn kvRow(b: u32, j: u32, g: u32) -> u32 { return ((b * p.Tk + j) * p.KVH + g) * p.hd; }
fn qRow(b: u32, i: u32, h: u32) -> u32 { return ((b * p.Tq + i) * p.H + h) * p.hd; }
fn statRow(b: u32, h: u32, i: u32) -> u32 { return (b * p.H + h) * p.Tq + i; }

// tile[r][0..w) = columns [d0, d0+w) of chunk row r (key rows j0 + r of k or v); zero past n rows.
fn tileKV(t: u32, j0: u32, n: u32, b: u32, g: u32, d0: u32, w: u32, fromV: bool) {
  workgroupBarrier(); // the previous tile has been read
  for (var r = 0u; r < DP; r++) {
    let e = t + r * WG;
    let row = e / DP;
    let col = e % DP;
    var x = 0.0;
    if (row < n && col < w) {
      let at = kvRow(b, j0 + row, g) + d0 + col;
      if (fromV) { x = vAt(at); } else { x = kAt(at); }
    }
    tile[row * DPS + col] = x;
  }
  workgroupBarrier();
}

// Same over query rows i0 + r of head h, from q or dO.
fn tileQO(t: u32, i0: u32, n: u32, b: u32, h: u32, d0: u32, w: u32, fromDO: bool) {
  workgroupBarrier();
  for (var r = 0u; r < DP; r++) {
    let e = t + r * WG;
    let row = e / DP;
    let col = e % DP;
    var x = 0.0;
    if (row < n && col < w) {
      let at = qRow(b, i0 + row, h) + d0 + col;
      if (fromDO) { x = dO[at]; } else { x = q[at]; }
    }
    tile[row * DPS + col] = x;
  }
  workgroupBarrier();
}

// Partial dot of tile row t with va (useB = false) or vb over columns [d0, d0+w).
fn tileDot(t: u32, d0: u32, w: u32, useB: bool) -> f32 {
  var s = 0.0;
  for (var c = 0u; c < w; c++) {
    var x = va[d0 + c];
    if (useB) { x = vb[d0 + c]; }
    s += x * tile[t * DPS + c];
  }
  return s;
}

// Forward: workgroup (i, h, b) computes o[b, i, h, :] and lse[b, h, i] by online softmax.
@compute @workgroup_size(WG)
fn attn_fwd(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let i = wid.x;
  let h = wid.y;
  let b = wid.z;
  let hd = p.hd;
  let g = h / (p.H / p.KVH);
  let qr = qRow(b, i, h);
  for (var d = t; d < hd; d += WG) {
    va[d] = q[qr + d] * p.scale;
    acc[d] = 0.0;
  }
  if (t == 0u) { range = keyRange(b, i); }
  let rg = workgroupUniformLoad(&range);
  let gap = keyGap(b, i);
  var m = NEG;
  var l = 0.0;
  for (var j0 = rg.x; j0 < rg.y; j0 += WG) {
    let n = min(WG, rg.y - j0);
    var s = 0.0;
    for (var d0 = 0u; d0 < hd; d0 += DP) {
      let w = min(DP, hd - d0);
      tileKV(t, j0, n, b, g, d0, w, false);
      s += tileDot(t, d0, w, false);
    }
    let ok = t < n && outsideGap(j0 + t, gap);
    if (!ok) { s = NEG; }
    let mNew = max(m, groupMax(t, s));
    var pr = 0.0;
    if (ok) { pr = exp(s - mNew); }
    cw[t] = pr;
    let alpha = exp(m - mNew); // rescales what was summed under the old max; 0 on the first chunk
    l = l * alpha + groupSum(t, pr); // the reduction's barriers also publish cw
    m = mNew;
    for (var d = t; d < hd; d += WG) {
      var a = acc[d] * alpha;
      for (var r = 0u; r < n; r++) {
        a += cw[r] * vAt(kvRow(b, j0 + r, g) + d);
      }
      acc[d] = a;
    }
  }
  // A row with no allowed key has l = 0: it outputs zeros and an lse of NEG, never NaN.
  var inv = 0.0;
  if (l > 0.0) { inv = 1.0 / l; }
  for (var d = t; d < hd; d += WG) {
    o[qr + d] = acc[d] * inv;
  }
  if (t == 0u) {
    var ls = NEG;
    if (l > 0.0) { ls = m + log(l); }
    lse[statRow(b, h, i)] = ls;
  }
}

// Backward step 1: per query row (b, i, h), D = dO·O into scratch, and the staging of
// [lse, D, lo, hi] in dq (see the binding comment). Rows are numbered in memory order, folded
// into a 2D grid of single-row workgroups.
@compute @workgroup_size(WG)
fn attn_bwd_prep(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.B * p.Tq * p.H) { return; }
  let h = row % p.H;
  let i = (row / p.H) % p.Tq;
  let b = row / (p.H * p.Tq);
  let base = row * p.hd;
  var s = 0.0;
  for (var d = t; d < p.hd; d += WG) {
    s += dO[base + d] * o[base + d];
  }
  let D = groupSum(t, s);
  if (t == 0u) {
    let st = statRow(b, h, i);
    let rg = keyRange(b, i);
    scratch[st] = D;
    dq[base] = lse[st];
    dq[base + 1u] = D;
    // Exact as f32 for any index below 2^24.
    dq[base + 2u] = f32(rg.x);
    dq[base + 3u] = f32(rg.y);
    stageGap(base, keyGap(b, i));
  }
}

// With gaps, the staging goes on with [gLo, gHi] (the launcher requires hd >= 8 then).
fn stageGap(base: u32, gap: vec2<u32>) {
  if (p.gaps == 0u) { return; }
  dq[base + 4u] = f32(gap.x);
  dq[base + 5u] = f32(gap.y);
}
fn stagedGap(base: u32) -> vec2<u32> {
  if (p.gaps == 0u) { return vec2<u32>(0u, 0u); }
  return vec2<u32>(u32(dq[base + 4u]), u32(dq[base + 5u]));
}

// Backward step 2: workgroup (j, g, b) computes dk and dv of key row j of kv head g, summing over
// the query heads of its group and every query whose interval contains j:
//   dv_j = Σ p_ij dO_i,   dk_j = scale Σ p_ij (dO_i·v_j - D_i) q_i,   p_ij = exp(s_ij - lse_i).
@compute @workgroup_size(WG)
fn attn_bwd_dkdv(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let j = wid.x;
  let g = wid.y;
  let b = wid.z;
  let hd = p.hd;
  let kr = kvRow(b, j, g);
  for (var d = t; d < hd; d += WG) {
    va[d] = kAt(kr + d) * p.scale;
    vb[d] = vAt(kr + d);
    acc[d] = 0.0;
    acc2[d] = 0.0;
  }
  let R = p.H / p.KVH;
  for (var hh = 0u; hh < R; hh++) {
    let h = g * R + hh;
    for (var i0 = 0u; i0 < p.Tq; i0 += WG) {
      let n = min(WG, p.Tq - i0);
      var lseI = 0.0;
      var dI = 0.0;
      var ok = false;
      if (t < n) {
        let sr = qRow(b, i0 + t, h);
        lseI = dq[sr];
        dI = dq[sr + 1u];
        ok = u32(dq[sr + 2u]) <= j && j < u32(dq[sr + 3u]) && outsideGap(j, stagedGap(sr));
      }
      // Causal training leaves about half the chunks with no query that sees key j: skip them.
      if (groupMax(t, select(0.0, 1.0, ok)) == 0.0) { continue; }
      var s = 0.0;
      var dov = 0.0;
      for (var d0 = 0u; d0 < hd; d0 += DP) {
        let w = min(DP, hd - d0);
        tileQO(t, i0, n, b, h, d0, w, false);
        s += tileDot(t, d0, w, false);
        tileQO(t, i0, n, b, h, d0, w, true);
        dov += tileDot(t, d0, w, true);
      }
      var pr = 0.0;
      if (ok) { pr = exp(s - lseI); }
      cw[t] = pr;
      cw2[t] = pr * (dov - dI);
      workgroupBarrier();
      for (var d = t; d < hd; d += WG) {
        var a = acc[d];
        var a2 = acc2[d];
        for (var r = 0u; r < n; r++) {
          let qr = qRow(b, i0 + r, h) + d;
          a += cw2[r] * q[qr];
          a2 += cw[r] * dO[qr];
        }
        acc[d] = a;
        acc2[d] = a2;
      }
      workgroupBarrier(); // cw, cw2 are rewritten by the next chunk
    }
  }
  for (var d = t; d < hd; d += WG) {
    dk[kr + d] = acc[d] * p.scale;
    dv[kr + d] = acc2[d];
  }
}

// Backward step 3 (after dkdv, which reads the staging in dq): workgroup (i, h, b) computes
//   dq_i = scale Σ_j p_ij (dO_i·v_j - D_i) k_j   over the allowed keys.
@compute @workgroup_size(WG)
fn attn_bwd_dq(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let i = wid.x;
  let h = wid.y;
  let b = wid.z;
  let hd = p.hd;
  let g = h / (p.H / p.KVH);
  let qr = qRow(b, i, h);
  if (t == 0u) { rowInfo = vec4<f32>(dq[qr], dq[qr + 1u], dq[qr + 2u], dq[qr + 3u]); }
  for (var d = t; d < hd; d += WG) {
    va[d] = q[qr + d] * p.scale;
    vb[d] = dO[qr + d];
    acc[d] = 0.0;
  }
  // Read before workgroupUniformLoad's barrier, so before any thread overwrites the staging.
  let gap = stagedGap(qr);
  let info = workgroupUniformLoad(&rowInfo);
  let lseI = info.x;
  let dI = info.y;
  let lo = u32(info.z);
  let hi = u32(info.w);
  for (var j0 = lo; j0 < hi; j0 += WG) {
    let n = min(WG, hi - j0);
    var s = 0.0;
    var dov = 0.0;
    for (var d0 = 0u; d0 < hd; d0 += DP) {
      let w = min(DP, hd - d0);
      tileKV(t, j0, n, b, g, d0, w, false);
      s += tileDot(t, d0, w, false);
      tileKV(t, j0, n, b, g, d0, w, true);
      dov += tileDot(t, d0, w, true);
    }
    var ds = 0.0;
    if (t < n && outsideGap(j0 + t, gap)) { ds = exp(s - lseI) * (dov - dI); }
    cw[t] = ds;
    workgroupBarrier();
    for (var d = t; d < hd; d += WG) {
      var a = acc[d];
      for (var r = 0u; r < n; r++) {
        a += cw[r] * kAt(kvRow(b, j0 + r, g) + d);
      }
      acc[d] = a;
    }
    workgroupBarrier();
  }
  // The staging floats of this row were read into rowInfo before the first barrier above.
  for (var d = t; d < hd; d += WG) {
    dq[qr + d] = acc[d] * p.scale;
  }
}

// cache[b * copies + c, pos0 + t, :] = src[b, t, :] for every c < copies: one thread per source
// word (a float, or with KV_F16 a pair of halves, W even so a pair never straddles two rows),
// grid folded into 2D. copies > 1 is generation's shared prefill: a prompt sampled G times is
// prefilled once and its keys and values land in all G sequences' caches.
fn kvCacheAt(e: u32, copy: u32) -> u32 {
  let c = e % p.W;
  let bt = e / p.W;
  return (((bt / p.Tn) * p.copies + copy) * p.Cap + p.pos0 + bt % p.Tn) * p.W + c;
}

@compute @workgroup_size(WG)
fn kv_write(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = gid.x + gid.y * nwg.x * WG;
  if (KV_F16) {
    let e = 2u * w;
    if (e >= p.n) { return; }
    let packed = pack2x16float(vec2<f32>(kvSrc[e], kvSrc[e + 1u]));
    for (var c = 0u; c < p.copies; c++) { kvCache[kvCacheAt(e, c) >> 1u] = packed; }
    return;
  }
  if (w >= p.n) { return; }
  let x = bitcast<u32>(kvSrc[w]);
  for (var c = 0u; c < p.copies; c++) { kvCache[kvCacheAt(w, c)] = x; }
}

// ---------------------------------------------------------------------------------------------
// One thread per row: the same four passes without workgroup memory or barriers. CPU adapters
// (SwiftShader, llvmpipe) emulate a barrier by switching between the invocations of a workgroup,
// which makes the kernels above 10-40x slower there than plain loops; Gpu.rowKernels picks these.
// Rows are (b, i, h) query rows or (b, j, g) key rows in memory order, folded into a 2D grid.
// The backward pass keeps the staging convention of the workgroup kernels (prep writes
// [lse, D, lo, hi] into dq; dkdv reads it; dq reads its own row's, then overwrites it).

override RT: u32 = 64u;      // threads per workgroup of the row kernels
// The head dim as a pipeline constant (one pipeline per model): loops over it have a fixed trip
// count, so the compiler can unroll them and keep the row arrays in registers (SwiftShader keeps
// an indexed private array in memory otherwise, at several times the cost).
override HDC: u32 = 16u;

fn threadRow(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * RT; }

// (b, i, h) of query row `row` in memory order.
fn queryRowOf(row: u32) -> vec3<u32> { return vec3<u32>(row / (p.H * p.Tq), (row / p.H) % p.Tq, row % p.H); }

@compute @workgroup_size(RT)
fn attn_fwd_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = threadRow(gid, nwg);
  if (row >= p.B * p.Tq * p.H) { return; }
  let bih = queryRowOf(row);
  let b = bih.x;
  let i = bih.y;
  let h = bih.z;
  let hd = HDC;
  let g = h / (p.H / p.KVH);
  let qr = qRow(b, i, h);
  var qs: array<f32, HDMAX>;
  var a: array<f32, HDMAX>;
  for (var d = 0u; d < hd; d++) {
    qs[d] = q[qr + d] * p.scale;
    a[d] = 0.0;
  }
  let rg = keyRange(b, i);
  let gap = keyGap(b, i);
  var m = NEG;
  var l = 0.0;
  for (var j = rg.x; j < rg.y; j++) {
    if (!outsideGap(j, gap)) {
      j = gap.y - 1u;
      continue;
    }
    let kr = kvRow(b, j, g);
    var s = 0.0;
    for (var d = 0u; d < hd; d++) { s += qs[d] * kAt(kr + d); }
    if (s > m) {
      // A new maximum: rescale what was summed under the old one (by 0 for the first key).
      let c = exp(m - s);
      l = l * c + 1.0;
      for (var d = 0u; d < hd; d++) { a[d] = a[d] * c + vAt(kr + d); }
      m = s;
    } else {
      let e = exp(s - m);
      l += e;
      for (var d = 0u; d < hd; d++) { a[d] += e * vAt(kr + d); }
    }
  }
  var inv = 0.0;
  if (l > 0.0) { inv = 1.0 / l; }
  for (var d = 0u; d < hd; d++) { o[qr + d] = a[d] * inv; }
  var ls = NEG;
  if (l > 0.0) { ls = m + log(l); }
  lse[statRow(b, h, i)] = ls;
}

@compute @workgroup_size(RT)
fn attn_bwd_prep_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = threadRow(gid, nwg);
  if (row >= p.B * p.Tq * p.H) { return; }
  let bih = queryRowOf(row);
  let b = bih.x;
  let i = bih.y;
  let h = bih.z;
  let base = row * p.hd;
  var D = 0.0;
  for (var d = 0u; d < HDC; d++) { D += dO[base + d] * o[base + d]; }
  let st = statRow(b, h, i);
  let rg = keyRange(b, i);
  scratch[st] = D;
  dq[base] = lse[st];
  dq[base + 1u] = D;
  dq[base + 2u] = f32(rg.x);
  dq[base + 3u] = f32(rg.y);
  stageGap(base, keyGap(b, i));
}

@compute @workgroup_size(RT)
fn attn_bwd_dkdv_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = threadRow(gid, nwg);
  if (row >= p.B * p.Tk * p.KVH) { return; }
  let g = row % p.KVH;
  let j = (row / p.KVH) % p.Tk;
  let b = row / (p.KVH * p.Tk);
  let hd = HDC;
  let kr = kvRow(b, j, g);
  var ks: array<f32, HDMAX>;
  var vj: array<f32, HDMAX>;
  var dkA: array<f32, HDMAX>;
  var dvA: array<f32, HDMAX>;
  for (var d = 0u; d < hd; d++) {
    ks[d] = kAt(kr + d) * p.scale;
    vj[d] = vAt(kr + d);
    dkA[d] = 0.0;
    dvA[d] = 0.0;
  }
  let R = p.H / p.KVH;
  for (var hh = 0u; hh < R; hh++) {
    let h = g * R + hh;
    for (var i = 0u; i < p.Tq; i++) {
      let sr = qRow(b, i, h);
      if (j < u32(dq[sr + 2u]) || j >= u32(dq[sr + 3u]) || !outsideGap(j, stagedGap(sr))) { continue; }
      var s = 0.0;
      var dov = 0.0;
      for (var d = 0u; d < hd; d++) {
        s += q[sr + d] * ks[d];
        dov += dO[sr + d] * vj[d];
      }
      let pr = exp(s - dq[sr]);
      let ds = pr * (dov - dq[sr + 1u]);
      for (var d = 0u; d < hd; d++) {
        dkA[d] += ds * q[sr + d];
        dvA[d] += pr * dO[sr + d];
      }
    }
  }
  for (var d = 0u; d < hd; d++) {
    dk[kr + d] = dkA[d] * p.scale;
    dv[kr + d] = dvA[d];
  }
}

@compute @workgroup_size(RT)
fn attn_bwd_dq_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = threadRow(gid, nwg);
  if (row >= p.B * p.Tq * p.H) { return; }
  let bih = queryRowOf(row);
  let b = bih.x;
  let i = bih.y;
  let h = bih.z;
  let hd = HDC;
  let g = h / (p.H / p.KVH);
  let qr = qRow(b, i, h);
  let lseI = dq[qr];
  let dI = dq[qr + 1u];
  let lo = u32(dq[qr + 2u]);
  let hi = u32(dq[qr + 3u]);
  let gap = stagedGap(qr);
  var qs: array<f32, HDMAX>;
  var dOi: array<f32, HDMAX>;
  var a: array<f32, HDMAX>;
  for (var d = 0u; d < hd; d++) {
    qs[d] = q[qr + d] * p.scale;
    dOi[d] = dO[qr + d];
    a[d] = 0.0;
  }
  for (var j = lo; j < hi; j++) {
    if (!outsideGap(j, gap)) {
      j = gap.y - 1u;
      continue;
    }
    let kr = kvRow(b, j, g);
    var s = 0.0;
    var dov = 0.0;
    for (var d = 0u; d < hd; d++) {
      s += qs[d] * kAt(kr + d);
      dov += dOi[d] * vAt(kr + d);
    }
    let ds = exp(s - lseI) * (dov - dI);
    for (var d = 0u; d < hd; d++) { a[d] += ds * kAt(kr + d); }
  }
  for (var d = 0u; d < hd; d++) { dq[qr + d] = a[d] * p.scale; }
}

// ---------------------------------------------------------------------------------------------
// The row kernels again for head dims that are a multiple of 4 (every preset's): rows read and
// written as vec4, and keys (or query rows, in dk/dv) taken four at a time, so the softmax
// rescale and the per-element accumulators, which SwiftShader keeps in memory, are touched once
// per four keys instead of once per key. Rows are numbered with the sequence index fastest, so the
// neighbouring threads SwiftShader runs as one SIMD group share b and the head and walk the same
// keys. The online softmax has no branch: the lanes of a group never diverge on a new maximum.
// Measured on SwiftShader (2 cores), B 8, T 128, H 4, KVH 2: forward 131 -> 57 ms at hd 16,
// 327 -> 141 ms at hd 32. A chunk's lanes past the last allowed key read a clamped row and
// weigh it 0.
// Where there are two rows to share them (training, prefill), a thread owns two query rows (or,
// in dk/dv, two keys): on SwiftShader these kernels are bound by loads, which are gathers across
// the SIMD lanes, and each k/v (q/dO) row read then serves two rows. Measured (2 cores, B 8,
// T 128, H 4, KVH 2, forward / backward ms, median of 7): hd 16 44-49 / 179-189 -> 31-33 /
// 105-117; hd 24 81 / 294 -> 42 / 173; hd 32 75 / 327 -> 50 / 228 (the same sums; a chunk's four
// dot products as one vector-matrix product, kChunk). Decoding (one query row) keeps one row per
// thread: at the GRPO batch its threads fill only two workgroups as it is.

@group(0) @binding(1) var<storage, read_write> q4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> k4: array<vec4<u32>>;  // as k and v: f32 bits or f16 pairs
@group(0) @binding(3) var<storage, read_write> v4: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> o4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> dO4: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> dq4: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> dk4: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read_write> dv4: array<vec4<f32>>;

const HD4MAX: u32 = HDMAX / 4u;

// Element group i (elements 4i .. 4i + 3) of k or v. With KV_F16 it is words 2i, 2i + 1: one half
// of vec4 word group i / 2 (the launcher binds a whole number of word groups).
fn halves4(w: vec4<u32>, i: u32) -> vec4<f32> {
  let h = select(w.xy, w.zw, (i & 1u) == 1u);
  return vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y));
}
fn k4At(i: u32) -> vec4<f32> {
  if (KV_F16) { return halves4(k4[i >> 1u], i); }
  return bitcast<vec4<f32>>(k4[i]);
}
fn v4At(i: u32) -> vec4<f32> {
  if (KV_F16) { return halves4(v4[i >> 1u], i); }
  return bitcast<vec4<f32>>(v4[i]);
}

// (b, i, h) of query row `row`, i fastest.
fn queryRowSeq(row: u32) -> vec3<u32> { return vec3<u32>(row / (p.Tq * p.H), row % p.Tq, (row / p.Tq) % p.H); }

// The vec4 offsets of key rows j0 .. j0 + 3 of kv head g, clamped to the last allowed key jl.
fn kvChunkRows(b: u32, j0: u32, jl: u32, g: u32) -> vec4<u32> {
  return vec4<u32>(kvRow(b, j0, g), kvRow(b, min(j0 + 1u, jl), g), kvRow(b, min(j0 + 2u, jl), g), kvRow(b, min(j0 + 3u, jl), g)) / 4u;
}

// Which of the chunk's four slots (first, first + 1, ...) are at or before `last`.
fn liveSlots(first: u32, last: u32) -> vec4<bool> {
  return vec4<bool>(first <= last, first + 1u <= last, first + 2u <= last, first + 3u <= last);
}

// Which of keys j0 .. j0 + 3 lie in a row's allowed range [lo, hi) (staged as floats, exact below 2^24).
fn inRange(j0: u32, range: vec2<f32>) -> vec4<bool> {
  let j = vec4<f32>(f32(j0), f32(j0 + 1u), f32(j0 + 2u), f32(j0 + 3u));
  return (j >= vec4<f32>(range.x)) & (j < vec4<f32>(range.y));
}

// Which of keys j0 .. j0 + 3 lie outside a row's gap [gLo, gHi) (floats, exact below 2^24).
fn outsideGap4(j0: u32, gap: vec2<f32>) -> vec4<bool> {
  let j = vec4<f32>(f32(j0), f32(j0 + 1u), f32(j0 + 2u), f32(j0 + 3u));
  return (j < vec4<f32>(gap.x)) | (j >= vec4<f32>(gap.y));
}

// How far a four-key chunk loop at j0 may jump over whole chunks inside a gap (0: none): a packed
// response's keys skip the other responses instead of masking them.
fn gapSkip(j0: u32, gap: vec2<u32>) -> u32 {
  if (j0 < gap.x || j0 + 4u > gap.y) { return 0u; }
  return ((gap.y - j0) / 4u) * 4u;
}

// The staged gap of a query row (vec4 offset sr) in the vec4 kernels: the second staging vec4.
fn stagedGap4(sr: u32) -> vec2<f32> {
  if (p.gaps == 0u) { return vec2<f32>(0.0); }
  return dq4[sr + 1u].xy;
}

// A thread that owns two query rows i0 = 2m, i1 = min(2m + 1, Tq - 1) of one head (the same row
// twice at an odd end), m fastest: b (>= B past the end), the rows, the head, its kv head and the
// vec4 offsets of both rows.
struct RowPair { b: u32, ia: u32, ib: u32, h: u32, g: u32, qa: u32, qb: u32 }
fn rowPair(row: u32) -> RowPair {
  let pairs = (p.Tq + 1u) / 2u;
  let b = row / (pairs * p.H);
  let ia = (row % pairs) * 2u;
  let ib = min(ia + 1u, p.Tq - 1u);
  let h = (row / pairs) % p.H;
  return RowPair(b, ia, ib, h, h / (p.H / p.KVH), qRow(b, ia, h) / 4u, qRow(b, ib, h) / 4u);
}

// Element group d of four rows (vec4 offsets r) as the columns of a matrix, so that x * M is the
// four dot products x . row and M * w the rows weighted by w.
fn kChunk(r: vec4<u32>, d: u32) -> mat4x4<f32> { return mat4x4<f32>(k4At(r.x + d), k4At(r.y + d), k4At(r.z + d), k4At(r.w + d)); }
fn vChunk(r: vec4<u32>, d: u32) -> mat4x4<f32> { return mat4x4<f32>(v4At(r.x + d), v4At(r.y + d), v4At(r.z + d), v4At(r.w + d)); }
fn qChunk(r: vec4<u32>, d: u32) -> mat4x4<f32> { return mat4x4<f32>(q4[r.x + d], q4[r.y + d], q4[r.z + d], q4[r.w + d]); }
fn dOChunk(r: vec4<u32>, d: u32) -> mat4x4<f32> { return mat4x4<f32>(dO4[r.x + d], dO4[r.y + d], dO4[r.z + d], dO4[r.w + d]); }

// o = acc / l and lse = m + log l of one row; an empty row (l = 0) gets zeros and NEG.
fn rowOutput(qr: u32, sr: u32, acc: ptr<function, array<vec4<f32>, HD4MAX>>, m: f32, l: f32, D4: u32) {
  var inv = 0.0;
  var ls = NEG;
  if (l > 0.0) {
    inv = 1.0 / l;
    ls = m + log(l);
  }
  for (var d = 0u; d < D4; d++) { o4[qr + d] = (*acc)[d] * inv; }
  lse[sr] = ls;
}

@compute @workgroup_size(RT)
fn attn_fwd_vec4_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = threadRow(gid, nwg);
  if (row >= p.B * p.Tq * p.H) { return; }
  let bih = queryRowSeq(row);
  let b = bih.x;
  let i = bih.y;
  let h = bih.z;
  let D4 = HDC / 4u;
  let g = h / (p.H / p.KVH);
  let qr = qRow(b, i, h) / 4u;
  var a: array<vec4<f32>, HD4MAX>;
  for (var d = 0u; d < D4; d++) { a[d] = vec4<f32>(0.0); }
  let rg = keyRange(b, i);
  let gap = keyGap(b, i);
  var m = NEG;
  var l = 0.0;
  for (var j0 = rg.x; j0 < rg.y; j0 += 4u) {
    let skip = gapSkip(j0, gap);
    if (skip > 0u) {
      j0 += skip - 4u;
      continue;
    }
    let jl = rg.y - 1u;
    let r = kvChunkRows(b, j0, jl, g);
    let r0 = r.x;
    let r1 = r.y;
    let r2 = r.z;
    let r3 = r.w;
    var s = vec4<f32>(0.0);
    for (var d = 0u; d < D4; d++) {
      let qd = q4[qr + d];
      s += vec4<f32>(dot(qd, k4At(r0 + d)), dot(qd, k4At(r1 + d)), dot(qd, k4At(r2 + d)), dot(qd, k4At(r3 + d)));
    }
    let sc = select(vec4<f32>(NEG), s * p.scale, liveSlots(j0, jl) & outsideGap4(j0, vec2<f32>(gap)));
    let mn = max(m, max(max(sc.x, sc.y), max(sc.z, sc.w)));
    let c = exp(m - mn);
    let e = exp(sc - vec4<f32>(mn));
    l = l * c + e.x + e.y + e.z + e.w;
    for (var d = 0u; d < D4; d++) {
      a[d] = a[d] * c + e.x * v4At(r0 + d) + e.y * v4At(r1 + d) + e.z * v4At(r2 + d) + e.w * v4At(r3 + d);
    }
    m = mn;
  }
  rowOutput(qr, statRow(b, h, i), &a, m, l, D4);
}

// Two query rows per thread (rowPair), for prefill and training: each key and value row read
// serves both rows' online softmax. Decoding (one query row) keeps attn_fwd_vec4_rows.
@compute @workgroup_size(RT)
fn attn_fwd_vec4_pairs_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let pr = rowPair(threadRow(gid, nwg));
  if (pr.b >= p.B) { return; }
  let D4 = HDC / 4u;
  var aa: array<vec4<f32>, HD4MAX>;
  var ab: array<vec4<f32>, HD4MAX>;
  for (var d = 0u; d < D4; d++) {
    aa[d] = vec4<f32>(0.0);
    ab[d] = vec4<f32>(0.0);
  }
  let ra = keyRange(pr.b, pr.ia);
  let rb = keyRange(pr.b, pr.ib);
  let ga = keyGap(pr.b, pr.ia);
  let gb = keyGap(pr.b, pr.ib);
  let both = vec2<u32>(max(ga.x, gb.x), min(ga.y, gb.y)); // keys neither row sees
  let hi = max(ra.y, rb.y);
  var ma = NEG;
  var mb = NEG;
  var la = 0.0;
  var lb = 0.0;
  for (var j0 = min(ra.x, rb.x); j0 < hi; j0 += 4u) {
    let skip = gapSkip(j0, both);
    if (skip > 0u) {
      j0 += skip - 4u;
      continue;
    }
    let jl = hi - 1u;
    let r = kvChunkRows(pr.b, j0, jl, pr.g);
    var sa = vec4<f32>(0.0);
    var sb = vec4<f32>(0.0);
    for (var d = 0u; d < D4; d++) {
      let kc = kChunk(r, d);
      sa += q4[pr.qa + d] * kc;
      sb += q4[pr.qb + d] * kc;
    }
    // A row's keys outside its own range weigh exactly 0 (its running max may still be NEG).
    let slots = liveSlots(j0, jl);
    let livea = slots & inRange(j0, vec2<f32>(ra)) & outsideGap4(j0, vec2<f32>(ga));
    let liveb = slots & inRange(j0, vec2<f32>(rb)) & outsideGap4(j0, vec2<f32>(gb));
    let sca = select(vec4<f32>(NEG), sa * p.scale, livea);
    let scb = select(vec4<f32>(NEG), sb * p.scale, liveb);
    let mna = max(ma, max(max(sca.x, sca.y), max(sca.z, sca.w)));
    let mnb = max(mb, max(max(scb.x, scb.y), max(scb.z, scb.w)));
    let ca = exp(ma - mna);
    let cb = exp(mb - mnb);
    let ea = select(vec4<f32>(0.0), exp(sca - vec4<f32>(mna)), livea);
    let eb = select(vec4<f32>(0.0), exp(scb - vec4<f32>(mnb)), liveb);
    la = la * ca + ea.x + ea.y + ea.z + ea.w;
    lb = lb * cb + eb.x + eb.y + eb.z + eb.w;
    for (var d = 0u; d < D4; d++) {
      let vc = vChunk(r, d);
      aa[d] = aa[d] * ca + vc * ea;
      ab[d] = ab[d] * cb + vc * eb;
    }
    ma = mna;
    mb = mnb;
  }
  rowOutput(pr.qa, statRow(pr.b, pr.h, pr.ia), &aa, ma, la, D4);
  if (pr.qb != pr.qa) { rowOutput(pr.qb, statRow(pr.b, pr.h, pr.ib), &ab, mb, lb, D4); }
}

// Two keys per thread (ja = 2m, jb = 2m + 1; the same key twice at an odd end), four query rows
// at a time: each query and dO row read serves both keys.
@compute @workgroup_size(RT)
fn attn_bwd_dkdv_vec4_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let pairs = (p.Tk + 1u) / 2u;
  let row = threadRow(gid, nwg);
  if (row >= p.B * pairs * p.KVH) { return; }
  let ja = (row % pairs) * 2u;
  let jb = min(ja + 1u, p.Tk - 1u);
  let g = (row / pairs) % p.KVH;
  let b = row / (pairs * p.KVH);
  let D4 = HDC / 4u;
  let ka = kvRow(b, ja, g) / 4u;
  let kb = kvRow(b, jb, g) / 4u;
  var dkA: array<vec4<f32>, HD4MAX>;
  var dvA: array<vec4<f32>, HD4MAX>;
  var dkB: array<vec4<f32>, HD4MAX>;
  var dvB: array<vec4<f32>, HD4MAX>;
  for (var d = 0u; d < D4; d++) {
    dkA[d] = vec4<f32>(0.0);
    dvA[d] = vec4<f32>(0.0);
    dkB[d] = vec4<f32>(0.0);
    dvB[d] = vec4<f32>(0.0);
  }
  let R = p.H / p.KVH;
  let il = p.Tq - 1u;
  let jfa = vec4<f32>(f32(ja));
  let jfb = vec4<f32>(f32(jb));
  for (var hh = 0u; hh < R; hh++) {
    let h = g * R + hh;
    for (var i0 = 0u; i0 < p.Tq; i0 += 4u) {
      let sr = vec4<u32>(qRow(b, i0, h), qRow(b, min(i0 + 1u, il), h), qRow(b, min(i0 + 2u, il), h), qRow(b, min(i0 + 3u, il), h)) / 4u;
      // Each query row's staged [lse, D, lo, hi]: is key ja (jb) among its allowed keys?
      let st = transpose(mat4x4<f32>(dq4[sr.x], dq4[sr.y], dq4[sr.z], dq4[sr.w]));
      let slots = liveSlots(i0, il);
      var liveA = slots & (jfa >= st[2]) & (jfa < st[3]);
      var liveB = slots & (jfb >= st[2]) & (jfb < st[3]);
      if (p.gaps != 0u) {
        // ... and outside its gap (staged [gLo, gHi] in the second vec4).
        let gt = transpose(mat4x4<f32>(dq4[sr.x + 1u], dq4[sr.y + 1u], dq4[sr.z + 1u], dq4[sr.w + 1u]));
        liveA &= (jfa < gt[0]) | (jfa >= gt[1]);
        liveB &= (jfb < gt[0]) | (jfb >= gt[1]);
      }
      if (!any(liveA) && !any(liveB)) { continue; }
      var sa = vec4<f32>(0.0);
      var sb = vec4<f32>(0.0);
      var oa = vec4<f32>(0.0);
      var ob = vec4<f32>(0.0);
      for (var d = 0u; d < D4; d++) {
        let qc = qChunk(sr, d);
        let oc = dOChunk(sr, d);
        sa += k4At(ka + d) * qc;
        sb += k4At(kb + d) * qc;
        oa += v4At(ka + d) * oc;
        ob += v4At(kb + d) * oc;
      }
      let pa = select(vec4<f32>(0.0), exp(sa * p.scale - st[0]), liveA);
      let pb = select(vec4<f32>(0.0), exp(sb * p.scale - st[0]), liveB);
      let dsa = pa * (oa - st[1]);
      let dsb = pb * (ob - st[1]);
      for (var d = 0u; d < D4; d++) {
        let qc = qChunk(sr, d);
        let oc = dOChunk(sr, d);
        dkA[d] += qc * dsa;
        dkB[d] += qc * dsb;
        dvA[d] += oc * pa;
        dvB[d] += oc * pb;
      }
    }
  }
  for (var d = 0u; d < D4; d++) {
    dk4[ka + d] = dkA[d] * p.scale;
    dv4[ka + d] = dvA[d];
  }
  if (jb != ja) {
    for (var d = 0u; d < D4; d++) {
      dk4[kb + d] = dkB[d] * p.scale;
      dv4[kb + d] = dvB[d];
    }
  }
}

// Two query rows per thread (rowPair) over the union of their key ranges: each key and value row
// read serves both.
@compute @workgroup_size(RT)
fn attn_bwd_dq_vec4_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let pr = rowPair(threadRow(gid, nwg));
  if (pr.b >= p.B) { return; }
  let D4 = HDC / 4u;
  let sta = dq4[pr.qa];
  let stb = dq4[pr.qb];
  let ga = stagedGap4(pr.qa);
  let gb = stagedGap4(pr.qb);
  let both = vec2<u32>(vec2<f32>(max(ga.x, gb.x), min(ga.y, gb.y)));
  let hi = u32(max(sta.w, stb.w));
  var aa: array<vec4<f32>, HD4MAX>;
  var ab: array<vec4<f32>, HD4MAX>;
  for (var d = 0u; d < D4; d++) {
    aa[d] = vec4<f32>(0.0);
    ab[d] = vec4<f32>(0.0);
  }
  for (var j0 = u32(min(sta.z, stb.z)); j0 < hi; j0 += 4u) {
    let skip = gapSkip(j0, both);
    if (skip > 0u) {
      j0 += skip - 4u;
      continue;
    }
    let jl = hi - 1u;
    let r = kvChunkRows(pr.b, j0, jl, pr.g);
    var sa = vec4<f32>(0.0);
    var sb = vec4<f32>(0.0);
    var oa = vec4<f32>(0.0);
    var ob = vec4<f32>(0.0);
    for (var d = 0u; d < D4; d++) {
      let kc = kChunk(r, d);
      let vc = vChunk(r, d);
      sa += q4[pr.qa + d] * kc;
      sb += q4[pr.qb + d] * kc;
      oa += dO4[pr.qa + d] * vc;
      ob += dO4[pr.qb + d] * vc;
    }
    let slots = liveSlots(j0, jl);
    let dsa = select(vec4<f32>(0.0), exp(sa * p.scale - vec4<f32>(sta.x)) * (oa - vec4<f32>(sta.y)), slots & inRange(j0, sta.zw) & outsideGap4(j0, ga));
    let dsb = select(vec4<f32>(0.0), exp(sb * p.scale - vec4<f32>(stb.x)) * (ob - vec4<f32>(stb.y)), slots & inRange(j0, stb.zw) & outsideGap4(j0, gb));
    for (var d = 0u; d < D4; d++) {
      let kc = kChunk(r, d);
      aa[d] += kc * dsa;
      ab[d] += kc * dsb;
    }
  }
  for (var d = 0u; d < D4; d++) { dq4[pr.qa + d] = aa[d] * p.scale; }
  if (pr.qb != pr.qa) {
    for (var d = 0u; d < D4; d++) { dq4[pr.qb + d] = ab[d] * p.scale; }
  }
}

// ---------------------------------------------------------------------------------------------
// Tiled kernels for the GPU path (head dims a multiple of 4 up to 64, at least TILED_MIN_ROWS
// query rows): a workgroup owns WG consecutive query rows (dk/dv: key rows) of one head, one row
// per thread, and walks the other side in chunks of CK rows staged as vec4 in workgroup memory,
// where all WG threads read them. Each thread runs its own online softmax: no reductions, two
// barriers per chunk, and every K/V (Q/dO) row is read from global memory once per workgroup
// instead of once per query row. The one-workgroup-per-row kernels above remain for decoding (a
// single query row per sequence) and for other head dims. Rows a thread does not own (past the
// end, outside its key range) weigh 0, so every thread passes every barrier.

override CK: u32 = 64u;        // rows per staged chunk; the launcher keeps CK * hd / 4 <= TILE4
const TILE4: u32 = 256u;       // vec4 per staged tensor (4 KiB)
var<workgroup> tileA: array<vec4<f32>, TILE4>;
var<workgroup> tileB: array<vec4<f32>, TILE4>;
var<workgroup> tileS: array<vec4<f32>, 64>;   // dk/dv: the chunk's query-row staging [lse, D, lo, hi]
var<workgroup> tileG: array<vec2<f32>, 64>;   // dk/dv with gaps: the chunk's query rows' [gLo, gHi]
var<workgroup> spanHi: atomic<u32>;

// [kStart[b], the largest `hi` of the workgroup's threads): the keys any of its rows may see, as
// workgroup-uniform values (loop bounds around barriers must be).
fn workgroupSpan(t: u32, b: u32, hi: u32) -> vec2<u32> {
  if (t == 0u) { atomicStore(&spanHi, 0u); }
  workgroupBarrier();
  atomicMax(&spanHi, hi);
  workgroupBarrier();
  if (t == 0u) { range = vec2<u32>(kStart[b], atomicLoad(&spanHi)); }
  return workgroupUniformLoad(&range);
}

// tileA / tileB = rows j0 .. j0 + n of k / v (kv head g), D4 vec4 each.
fn stageKV(t: u32, b: u32, g: u32, j0: u32, n: u32, D4: u32) {
  for (var e = t; e < n * D4; e += WG) {
    let src = kvRow(b, j0 + e / D4, g) / 4u + e % D4;
    tileA[e] = k4At(src);
    tileB[e] = v4At(src);
  }
}

@compute @workgroup_size(WG)
fn attn_fwd_tiled(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let h = wid.y;
  let b = wid.z;
  let i = wid.x * WG + t;
  let live = i < p.Tq;
  let ic = min(i, p.Tq - 1u);
  let D4 = HDC / 4u;
  let g = h / (p.H / p.KVH);
  let qr = qRow(b, ic, h) / 4u;
  var qv: array<vec4<f32>, HD4MAX>;
  var a: array<vec4<f32>, HD4MAX>;
  for (var d = 0u; d < D4; d++) {
    qv[d] = q4[qr + d] * p.scale;
    a[d] = vec4<f32>(0.0);
  }
  var rg = keyRange(b, ic);
  if (!live) { rg.y = rg.x; }
  let gap = keyGap(b, ic);
  let span = workgroupSpan(t, b, rg.y);
  var m = NEG;
  var l = 0.0;
  for (var j0 = span.x; j0 < span.y; j0 += CK) {
    let n = min(CK, span.y - j0);
    stageKV(t, b, g, j0, n, D4);
    workgroupBarrier();
    for (var r = 0u; r < n; r++) {
      let j = j0 + r;
      var s4 = vec4<f32>(0.0);
      for (var d = 0u; d < D4; d++) { s4 += qv[d] * tileA[r * D4 + d]; }
      let ok = j >= rg.x && j < rg.y && outsideGap(j, gap);
      let s = select(NEG, s4.x + s4.y + s4.z + s4.w, ok);
      let mn = max(m, s);
      let c = exp(m - mn);
      let e = select(0.0, exp(s - mn), ok);
      l = l * c + e;
      for (var d = 0u; d < D4; d++) { a[d] = a[d] * c + e * tileB[r * D4 + d]; }
      m = mn;
    }
    workgroupBarrier();
  }
  if (!live) { return; }
  var inv = 0.0;
  if (l > 0.0) { inv = 1.0 / l; }
  for (var d = 0u; d < D4; d++) { o4[qr + d] = a[d] * inv; }
  var ls = NEG;
  if (l > 0.0) { ls = m + log(l); }
  lse[statRow(b, h, ic)] = ls;
}

@compute @workgroup_size(WG)
fn attn_bwd_dkdv_tiled(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = wid.y;
  let b = wid.z;
  let j = wid.x * WG + t;
  let live = j < p.Tk;
  let jc = min(j, p.Tk - 1u);
  let D4 = HDC / 4u;
  let kr = kvRow(b, jc, g) / 4u;
  var kv: array<vec4<f32>, HD4MAX>;
  var vv: array<vec4<f32>, HD4MAX>;
  var dkA: array<vec4<f32>, HD4MAX>;
  var dvA: array<vec4<f32>, HD4MAX>;
  for (var d = 0u; d < D4; d++) {
    kv[d] = k4At(kr + d) * p.scale;
    vv[d] = v4At(kr + d);
    dkA[d] = vec4<f32>(0.0);
    dvA[d] = vec4<f32>(0.0);
  }
  let jf = f32(jc);
  let R = p.H / p.KVH;
  for (var hh = 0u; hh < R; hh++) {
    let h = g * R + hh;
    for (var i0 = 0u; i0 < p.Tq; i0 += CK) {
      let n = min(CK, p.Tq - i0);
      for (var e = t; e < n * D4; e += WG) {
        let src = qRow(b, i0 + e / D4, h) / 4u + e % D4;
        tileA[e] = q4[src];
        tileB[e] = dO4[src];
      }
      for (var r = t; r < n; r += WG) {
        tileS[r] = dq4[qRow(b, i0 + r, h) / 4u];
        tileG[r] = stagedGap4(qRow(b, i0 + r, h) / 4u);
      }
      workgroupBarrier();
      for (var r = 0u; r < n; r++) {
        let st = tileS[r];
        let gp = tileG[r];
        let ok = live && jf >= st.z && jf < st.w && (jf < gp.x || jf >= gp.y);
        var s4 = vec4<f32>(0.0);
        var o4s = vec4<f32>(0.0);
        for (var d = 0u; d < D4; d++) {
          s4 += tileA[r * D4 + d] * kv[d];
          o4s += tileB[r * D4 + d] * vv[d];
        }
        let pr = select(0.0, exp(s4.x + s4.y + s4.z + s4.w - st.x), ok);
        let ds = pr * (o4s.x + o4s.y + o4s.z + o4s.w - st.y);
        for (var d = 0u; d < D4; d++) {
          dkA[d] += ds * tileA[r * D4 + d];
          dvA[d] += pr * tileB[r * D4 + d];
        }
      }
      workgroupBarrier();
    }
  }
  if (!live) { return; }
  for (var d = 0u; d < D4; d++) {
    dk4[kr + d] = dkA[d] * p.scale;
    dv4[kr + d] = dvA[d];
  }
}

@compute @workgroup_size(WG)
fn attn_bwd_dq_tiled(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let h = wid.y;
  let b = wid.z;
  let i = wid.x * WG + t;
  let live = i < p.Tq;
  let ic = min(i, p.Tq - 1u);
  let D4 = HDC / 4u;
  let g = h / (p.H / p.KVH);
  let qr = qRow(b, ic, h) / 4u;
  // This row's staging [lse, D, lo, hi], read before the row's dq overwrites it (no other thread
  // of this kernel reads it).
  let st = dq4[qr];
  let gap = vec2<u32>(stagedGap4(qr));
  let lo = u32(st.z);
  var hi = u32(st.w);
  if (!live) { hi = lo; }
  var qv: array<vec4<f32>, HD4MAX>;
  var ov: array<vec4<f32>, HD4MAX>;
  var a: array<vec4<f32>, HD4MAX>;
  for (var d = 0u; d < D4; d++) {
    qv[d] = q4[qr + d] * p.scale;
    ov[d] = dO4[qr + d];
    a[d] = vec4<f32>(0.0);
  }
  let span = workgroupSpan(t, b, hi);
  for (var j0 = span.x; j0 < span.y; j0 += CK) {
    let n = min(CK, span.y - j0);
    stageKV(t, b, g, j0, n, D4);
    workgroupBarrier();
    for (var r = 0u; r < n; r++) {
      let j = j0 + r;
      var s4 = vec4<f32>(0.0);
      var o4s = vec4<f32>(0.0);
      for (var d = 0u; d < D4; d++) {
        s4 += qv[d] * tileA[r * D4 + d];
        o4s += ov[d] * tileB[r * D4 + d];
      }
      let ok = j >= lo && j < hi && outsideGap(j, gap);
      let ds = select(0.0, exp(s4.x + s4.y + s4.z + s4.w - st.x) * (o4s.x + o4s.y + o4s.z + o4s.w - st.y), ok);
      for (var d = 0u; d < D4; d++) { a[d] += ds * tileA[r * D4 + d]; }
    }
    workgroupBarrier();
  }
  if (!live) { return; }
  for (var d = 0u; d < D4; d++) { dq4[qr + d] = a[d] * p.scale; }
}
