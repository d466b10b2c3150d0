// Matrix products for every Linear layer (forward and both gradients) and the per-head attention
// products, plus column sums for bias gradients.
//
//   C[b, m, n] = alpha * sum_k opA[b, m, k] * opB[b, k, n]  (+ bias[n])  (+ old C[b, m, n])
//
// Operands are addressed through element strides (sAm, sAk) and (sBk, sBn) rather than one code path
// per transpose: a row-major [M, K] A has (K, 1), a stored-transposed [K, M] A has (1, M). The flags
// only tell the tile loaders which of the two indices is contiguous in memory, so that consecutive
// threads always read consecutive addresses whatever the layout.
//
// C is always row-major [M, N] per batch item. Batch items sit strideA / strideB / strideC elements
// apart; a stride of 0 reuses one operand for every item.
//
// B may hold f16 values (a frozen weight stored at half the memory): two per 32-bit word, element i
// in the low half of word i/2 when i is even, unpacked to f32 by the core unpack2x16float (no
// shader-f16 needed, so every adapter has it); all arithmetic stays f32. B_F16 is a pipeline
// constant, so each variant compiles to one load path.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  flags: u32,      // A_KCONTIG | B_KCONTIG | ACCUM
  sAm: u32,
  sAk: u32,
  sBk: u32,
  sBn: u32,
  strideA: u32,
  strideB: u32,
  strideC: u32,
  alpha: f32,
  ks: u32,         // matmul_gemv: number of threads that split K for one output column
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

const A_KCONTIG = 1u;  // A's k index is the contiguous one (A stored [M, K])
const B_KCONTIG = 2u;  // B's k index is the contiguous one (B stored [N, K])
const ACCUM = 4u;      // add the product to what C holds

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> B: array<u32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read_write> bias: array<f32>;

override B_F16: bool = false;

fn loadB(i: u32) -> f32 {
  if (B_F16) { return unpack2x16float(B[i >> 1u])[i & 1u]; }
  return bitcast<f32>(B[i]);
}

fn write_c(idx: u32, v: f32, b: f32) {
  var o = p.alpha * v + b;
  if ((p.flags & ACCUM) != 0u) { o += C[idx]; }
  C[idx] = o;
}

// ---------------------------------------------------------------------------------------------
// Tiled product. A workgroup of TX x TY threads owns a (TY*TM) x (TX*TN) tile of C; each thread
// keeps a TM x TN block of it in registers. K is walked in slices of BK that are staged through
// workgroup memory, so every global element is read once per tile instead of once per output.
//
// A thread's block is strided (rows ty + TY*i, columns tx + TX*j) rather than contiguous: reading
// the staged B slice and writing C, neighbouring threads then touch neighbouring addresses.

override TX: u32 = 16;
override TY: u32 = 16;
override BK: u32 = 16;
const TM = 4u;
const TN = 4u;  // tied to the vec4 accumulator rows (and TM to their count in tile_product)

// Staged slices are stored k-major with one float of padding per k row: the loaders that walk k
// fastest (layouts where k is contiguous in memory) then write to distinct banks.
var<workgroup> As: array<f32, BK * (TY * TM + 1u)>;
var<workgroup> Bs: array<f32, BK * (TX * TN + 1u)>;

fn tile_product(lid: vec3<u32>, wid: vec3<u32>) -> array<vec4<f32>, TM> {
  let BM = TY * TM;
  let BN = TX * TN;
  let AP = BM + 1u;
  let BP = BN + 1u;
  let NT = TX * TY;
  let tid = lid.y * TX + lid.x;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let aBase = wid.z * p.strideA;
  let bBase = wid.z * p.strideB;
  let aK = (p.flags & A_KCONTIG) != 0u;
  let bK = (p.flags & B_KCONTIG) != 0u;

  // Four named accumulator rows, not an indexed array: a GPU compiler unrolls either into
  // registers, but SwiftShader keeps an indexed private array in memory.
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var e = tid; e < BM * BK; e += NT) {
      var m: u32;
      var k: u32;
      if (aK) { k = e % BK; m = e / BK; } else { m = e % BM; k = e / BM; }
      let gm = m0 + m;
      let gk = k0 + k;
      var v = 0.0;
      if (gm < p.M && gk < p.K) { v = A[aBase + gm * p.sAm + gk * p.sAk]; }
      As[k * AP + m] = v;
    }
    for (var e = tid; e < BN * BK; e += NT) {
      var n: u32;
      var k: u32;
      if (bK) { k = e % BK; n = e / BK; } else { n = e % BN; k = e / BN; }
      let gn = n0 + n;
      let gk = k0 + k;
      var v = 0.0;
      if (gn < p.N && gk < p.K) { v = loadB(bBase + gk * p.sBk + gn * p.sBn); }
      Bs[k * BP + n] = v;
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      let br = k * BP + lid.x;
      let b = vec4<f32>(Bs[br], Bs[br + TX], Bs[br + 2u * TX], Bs[br + 3u * TX]);
      let ar = k * AP + lid.y;
      acc0 += As[ar] * b;
      acc1 += As[ar + TY] * b;
      acc2 += As[ar + 2u * TY] * b;
      acc3 += As[ar + 3u * TY] * b;
    }
    workgroupBarrier();
  }
  return array<vec4<f32>, TM>(acc0, acc1, acc2, acc3);
}

fn store_tile(lid: vec3<u32>, wid: vec3<u32>, acc: array<vec4<f32>, TM>, bv: vec4<f32>) {
  let cBase = wid.z * p.strideC;
  for (var i = 0u; i < TM; i++) {
    let m = wid.y * TY * TM + lid.y + i * TY;
    if (m >= p.M) { break; }
    for (var j = 0u; j < TN; j++) {
      let n = wid.x * TX * TN + lid.x + j * TX;
      if (n >= p.N) { break; }
      write_c(cBase + m * p.N + n, acc[i][j], bv[j]);
    }
  }
}

// Two entry points because a binding that an entry point mentions must be bound: the bias-free one
// never touches binding 4.
@compute @workgroup_size(TX, TY)
fn matmul_tiled(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let acc = tile_product(lid, wid);
  store_tile(lid, wid, acc, vec4<f32>(0.0));
}

@compute @workgroup_size(TX, TY)
fn matmul_tiled_bias(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let acc = tile_product(lid, wid);
  var bv = vec4<f32>(0.0);
  for (var j = 0u; j < TN; j++) {
    let n = wid.x * TX * TN + lid.x + j * TX;
    if (n < p.N) { bv[j] = bias[n]; }
  }
  store_tile(lid, wid, acc, bv);
}

// ---------------------------------------------------------------------------------------------
// Matrix-vector path for M = 1..MR rows (decoding, one token per sequence). A 64-row tile would
// leave most threads idle and give only N/64 workgroups; here a workgroup owns NC = GV_WG / ks
// output columns and ks threads split each column's K, so the weights are streamed once with
// coalesced reads and the grid is N / NC workgroups.
//   B k-contiguous ([N, K], the y = x W^T forward): lanes walk k of one column.
//   B n-contiguous ([K, N]): lanes walk n, ks slices of k.
// ks (a uniform) grows with K: matmul.ts gemvSplit says how, and what a fixed 32 cost.

override MR: u32 = 4;       // rows of A, the launcher compiles one variant per M
override GV_WG: u32 = 64;

var<workgroup> part: array<f32, MR * GV_WG>;

// Partial sums of this thread's (column, k slice) into part[r * GV_WG + tid].
fn gemv_partial(tid: u32, wid: vec3<u32>) {
  let KS = p.ks;
  let NC = GV_WG / KS;
  let bK = (p.flags & B_KCONTIG) != 0u;
  var c: u32;
  var kk: u32;
  if (bK) { kk = tid % KS; c = tid / KS; } else { c = tid % NC; kk = tid / NC; }
  let n = wid.x * NC + c;
  let aBase = wid.z * p.strideA;
  let bBase = wid.z * p.strideB;
  var acc = vec4<f32>(0.0);
  if (n < p.N) {
    for (var k = kk; k < p.K; k += KS) {
      let bv = loadB(bBase + k * p.sBk + n * p.sBn);
      for (var r = 0u; r < MR; r++) {
        acc[r] += A[aBase + r * p.sAm + k * p.sAk] * bv;
      }
    }
  }
  for (var r = 0u; r < MR; r++) { part[r * GV_WG + tid] = acc[r]; }
  workgroupBarrier();
}

// Sum of the ks partials of output (r, c).
fn gemv_sum(r: u32, c: u32) -> f32 {
  let KS = p.ks;
  let NC = GV_WG / KS;
  let bK = (p.flags & B_KCONTIG) != 0u;
  var t = 0.0;
  for (var kk = 0u; kk < KS; kk++) {
    var slot: u32;
    if (bK) { slot = c * KS + kk; } else { slot = kk * NC + c; }
    t += part[r * GV_WG + slot];
  }
  return t;
}

@compute @workgroup_size(GV_WG)
fn matmul_gemv(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  gemv_partial(lid.x, wid);
  let NC = GV_WG / p.ks;
  // Owners are numbered column-fastest so that neighbouring threads write neighbouring C elements.
  let r = lid.x / NC;
  let c = lid.x % NC;
  let n = wid.x * NC + c;
  if (r < MR && n < p.N) {
    write_c(wid.z * p.strideC + r * p.N + n, gemv_sum(r, c), 0.0);
  }
}

@compute @workgroup_size(GV_WG)
fn matmul_gemv_bias(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  gemv_partial(lid.x, wid);
  let NC = GV_WG / p.ks;
  let r = lid.x / NC;
  let c = lid.x % NC;
  let n = wid.x * NC + c;
  if (r < MR && n < p.N) {
    write_c(wid.z * p.strideC + r * p.N + n, gemv_sum(r, c), bias[n]);
  }
}

// ---------------------------------------------------------------------------------------------
// Barrier-free product for CPU adapters (Gpu.rowKernels): each thread computes a 4 x 8 block of C
// straight from global memory. Without workgroup memory there is nothing to synchronise (a CPU
// implementation of WebGPU emulates barriers by switching between invocations), and small or skinny
// products (N = 16 for a kv projection) waste no tile padding. The block lives in eight named vec4
// registers, not an indexed array: SwiftShader keeps indexed private arrays in memory, which costs
// a factor of 3-6 here. Reads past the edge are clamped to the last row or column, never stored.

override BX: u32 = 8;
override BY: u32 = 8;

// Row r of the block: columns 0..3 in lo{r}, 4..7 in hi{r}.
struct Block {
  lo0: vec4<f32>, lo1: vec4<f32>, lo2: vec4<f32>, lo3: vec4<f32>,
  hi0: vec4<f32>, hi1: vec4<f32>, hi2: vec4<f32>, hi3: vec4<f32>,
}

fn block_product(g: vec3<u32>) -> Block {
  let m0 = g.y * 4u;
  let n0 = g.x * 8u;
  let aB = g.z * p.strideA;
  let bB = g.z * p.strideB;
  let mx = p.M - 1u;
  let nx = p.N - 1u;
  let r0 = aB + min(m0, mx) * p.sAm;
  let r1 = aB + min(m0 + 1u, mx) * p.sAm;
  let r2 = aB + min(m0 + 2u, mx) * p.sAm;
  let r3 = aB + min(m0 + 3u, mx) * p.sAm;
  let c0 = bB + min(n0, nx) * p.sBn;
  let c1 = bB + min(n0 + 1u, nx) * p.sBn;
  let c2 = bB + min(n0 + 2u, nx) * p.sBn;
  let c3 = bB + min(n0 + 3u, nx) * p.sBn;
  let c4 = bB + min(n0 + 4u, nx) * p.sBn;
  let c5 = bB + min(n0 + 5u, nx) * p.sBn;
  let c6 = bB + min(n0 + 6u, nx) * p.sBn;
  let c7 = bB + min(n0 + 7u, nx) * p.sBn;
  var x: Block;
  for (var k = 0u; k < p.K; k++) {
    let bk = k * p.sBk;
    let lo = vec4<f32>(loadB(c0 + bk), loadB(c1 + bk), loadB(c2 + bk), loadB(c3 + bk));
    let hi = vec4<f32>(loadB(c4 + bk), loadB(c5 + bk), loadB(c6 + bk), loadB(c7 + bk));
    let ak = k * p.sAk;
    let a0 = A[r0 + ak];
    let a1 = A[r1 + ak];
    let a2 = A[r2 + ak];
    let a3 = A[r3 + ak];
    x.lo0 += a0 * lo; x.hi0 += a0 * hi;
    x.lo1 += a1 * lo; x.hi1 += a1 * hi;
    x.lo2 += a2 * lo; x.hi2 += a2 * hi;
    x.lo3 += a3 * lo; x.hi3 += a3 * hi;
  }
  return x;
}

// Row m of C from columns n0..n0+7 (lo, hi), with the bias values for those columns.
fn store_block_row(z: u32, m: u32, n0: u32, lo: vec4<f32>, hi: vec4<f32>, blo: vec4<f32>, bhi: vec4<f32>) {
  if (m >= p.M) { return; }
  let row = z * p.strideC + m * p.N;
  for (var j = 0u; j < 4u; j++) {
    if (n0 + j < p.N) { write_c(row + n0 + j, lo[j], blo[j]); }
    if (n0 + 4u + j < p.N) { write_c(row + n0 + 4u + j, hi[j], bhi[j]); }
  }
}

fn store_block(g: vec3<u32>, x: Block, blo: vec4<f32>, bhi: vec4<f32>) {
  let m0 = g.y * 4u;
  let n0 = g.x * 8u;
  store_block_row(g.z, m0, n0, x.lo0, x.hi0, blo, bhi);
  store_block_row(g.z, m0 + 1u, n0, x.lo1, x.hi1, blo, bhi);
  store_block_row(g.z, m0 + 2u, n0, x.lo2, x.hi2, blo, bhi);
  store_block_row(g.z, m0 + 3u, n0, x.lo3, x.hi3, blo, bhi);
}

@compute @workgroup_size(BX, BY)
fn matmul_blocks(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.y * 4u >= p.M || g.x * 8u >= p.N) { return; }
  store_block(g, block_product(g), vec4<f32>(0.0), vec4<f32>(0.0));
}

@compute @workgroup_size(BX, BY)
fn matmul_blocks_bias(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.y * 4u >= p.M || g.x * 8u >= p.N) { return; }
  let n0 = g.x * 8u;
  let nx = p.N - 1u;
  let blo = vec4<f32>(bias[min(n0, nx)], bias[min(n0 + 1u, nx)], bias[min(n0 + 2u, nx)], bias[min(n0 + 3u, nx)]);
  let bhi = vec4<f32>(bias[min(n0 + 4u, nx)], bias[min(n0 + 5u, nx)], bias[min(n0 + 6u, nx)], bias[min(n0 + 7u, nx)]);
  store_block(g, block_product(g), blo, bhi);
}

// ---------------------------------------------------------------------------------------------
// One row of A against a k-contiguous f32 B, on CPU adapters: a decoded token through a Linear
// layer (y = x W^T, M = 1). The register-block product above computes four rows there, three of
// them the clamped copy of the one real row, so three quarters of its loads and products are
// wasted. Here each thread owns four neighbouring columns and walks K a vec4 at a time, loading
// x once per step for all four (the launcher checks that K and the batch strides are multiples
// of 4, so every vec4 is one aligned element of A4 / B4).

@group(0) @binding(1) var<storage, read_write> A4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> B4: array<vec4<u32>>;

override RVT: u32 = 64;   // threads per workgroup

fn rowvec_product(g: vec3<u32>) -> vec4<f32> {
  let n0 = g.x * 4u;
  let nx = p.N - 1u;
  let K4 = p.K / 4u;
  let a = g.z * p.strideA / 4u;
  let bB = g.z * p.strideB;
  let c0 = (bB + min(n0, nx) * p.sBn) / 4u;
  let c1 = (bB + min(n0 + 1u, nx) * p.sBn) / 4u;
  let c2 = (bB + min(n0 + 2u, nx) * p.sBn) / 4u;
  let c3 = (bB + min(n0 + 3u, nx) * p.sBn) / 4u;
  var s0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var s3 = vec4<f32>(0.0);
  for (var k = 0u; k < K4; k++) {
    let x = A4[a + k];
    s0 += x * bitcast<vec4<f32>>(B4[c0 + k]);
    s1 += x * bitcast<vec4<f32>>(B4[c1 + k]);
    s2 += x * bitcast<vec4<f32>>(B4[c2 + k]);
    s3 += x * bitcast<vec4<f32>>(B4[c3 + k]);
  }
  let one = vec4<f32>(1.0);
  return vec4<f32>(dot(s0, one), dot(s1, one), dot(s2, one), dot(s3, one));
}

fn store_rowvec(g: vec3<u32>, y: vec4<f32>, b: vec4<f32>) {
  let n0 = g.x * 4u;
  let row = g.z * p.strideC;
  for (var j = 0u; j < 4u; j++) {
    if (n0 + j < p.N) { write_c(row + n0 + j, y[j], b[j]); }
  }
}

@compute @workgroup_size(RVT)
fn matmul_rowvec(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x * 4u >= p.N) { return; }
  store_rowvec(g, rowvec_product(g), vec4<f32>(0.0));
}

@compute @workgroup_size(RVT)
fn matmul_rowvec_bias(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x * 4u >= p.N) { return; }
  let n0 = g.x * 4u;
  let nx = p.N - 1u;
  store_rowvec(g, rowvec_product(g), vec4<f32>(bias[min(n0, nx)], bias[min(n0 + 1u, nx)], bias[min(n0 + 2u, nx)], bias[min(n0 + 3u, nx)]));
}

// ---------------------------------------------------------------------------------------------
// Column sums: C[n] (+)= sum_m A[m * N + n] for m < M (bias gradients; A is the row-major [M, N]
// output gradient). SC consecutive columns per workgroup keep row reads coalesced; SR threads per
// column split the rows and meet in workgroup memory.

override SC: u32 = 32;
override SR: u32 = 8;

var<workgroup> colpart: array<f32, SC * SR>;

@compute @workgroup_size(SC, SR)
fn sum_rows(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let n = wid.x * SC + lid.x;
  var s = 0.0;
  if (n < p.N) {
    for (var m = lid.y; m < p.M; m += SR) { s += A[m * p.N + n]; }
  }
  colpart[lid.y * SC + lid.x] = s;
  workgroupBarrier();
  if (lid.y == 0u && n < p.N) {
    var t = 0.0;
    for (var j = 0u; j < SR; j++) { t += colpart[j * SC + lid.x]; }
    write_c(n, t, 0.0);
  }
}
