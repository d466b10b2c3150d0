// Next-token selection on the GPU, one workgroup per row of logits [B, V]:
//   greedy:   token = argmax (lowest index on ties, like torch.argmax), logp from T = 1
//   sampling: temperature, nucleus (top-p) truncation, then one draw from a counter-based RNG
// and logp = log softmax(logits / T)[token] (of the full distribution, before truncation).
//
// Banned tokens (a bitset, one bit per vocabulary entry: the image placeholder, padding, BOS, ...
// that a response may not hold) are never picked: they take no part in the argmax, the nucleus or
// the draw. logp stays the full row's, banned tokens included, like a top-p truncation: it is then
// exactly what the training forward computes for the same token (verl likewise recomputes the old
// policy's log-probs with the actor rather than taking the sampler's), so a GRPO ratio starts at 1.
//
// Top-p without sorting: the nucleus is {i : logit_i >= θ} for the largest θ whose kept mass is
// still >= top_p. θ is searched over the totally ordered 32-bit keys of the logits (see `key`), 8
// intervals per pass (7 probe thresholds evaluated together), so at most 11 passes over the row
// pin θ to one exact logit value. Comparing keys of the raw logits (not recomputed
// probabilities) means membership is decided identically in every pass and in the draw.
//
// The draw walks tokens in a fixed thread-major order (thread t owns t, t+WG, t+2WG, ...): each
// thread sums its kept mass with coalesced loads, a workgroup scan turns the sums into intervals,
// and the one thread whose interval holds u * mass replays its tokens to find the pick. Any fixed
// order gives the right distribution; this one needs a single scan instead of one per chunk.
// Everything depends only on (logits, seed, step, row), never on scheduling.
//
// Workgroup reductions are two-level with fan-in FAN instead of a log2(WG)-step tree: WG/FAN
// threads each fold FAN values, then every thread folds the WG/FAN partials (broadcast reads). That
// is two barriers per reduction instead of eight, and the bisection does a dozen reductions a row.

struct Params {
  B: u32,
  V: u32,
  greedy: u32,
  seed: u32,
  step: u32,
  inv_t: f32,   // 1 / temperature (ignored when greedy)
  top_p: f32,   // in (0, 1]; >= 1 keeps every token
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> tokens: array<u32>;
@group(0) @binding(3) var<storage, read_write> logp: array<f32>;
@group(0) @binding(4) var<storage, read_write> banned: array<u32>;

override WG: u32 = 256;  // a power of two in [FAN, FAN * FAN]
const FAN: u32 = 16u;

const NONE: u32 = 0xffffffffu;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_i: array<u32, WG>;
var<workgroup> red_k: array<u32, WG>;
var<workgroup> red_g: array<f32, WG>;
var<workgroup> red_a: array<vec4<f32>, WG>;
var<workgroup> red_b: array<vec4<f32>, WG>;
var<workgroup> chunk_off: array<f32, FAN>;
var<workgroup> sh_lo: u32;
var<workgroup> sh_hi: u32;
// Bitwise-not of the picked index, combined with atomicMax: the zero that workgroup memory starts
// with then means "nothing picked", and the max is order independent.
var<workgroup> pick_not: atomic<u32>;
// 1 + the last token with nonzero kept mass (fallback when rounding puts u * mass past the end).
var<workgroup> last_kept: atomic<u32>;

fn is_banned(i: u32) -> bool {
  return ((banned[i >> 5u] >> (i & 31u)) & 1u) != 0u;
}

// Monotone map of f32 to u32: a < b (as floats) <=> key(a) < key(b); -0 sorts just below +0.
fn key(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// PCG hash (LCG step + RXS-M-XS output); a bijection on u32, so distinct counters never collide.
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

// Uniform in [0, 1) from (seed, step, row), 24 bits so the f32 conversion is exact.
fn uniform01(row: u32) -> f32 {
  let h = pcg(pcg(pcg(p.seed) + p.step) + row);
  return f32(h >> 8u) * (1.0 / 16777216.0);
}

// The seven probe thresholds between lo and hi (probe 8 is hi itself): lo + k*w/8 for k = 1..4
// (x) and 5..8 (y), written so that k*w cannot overflow u32.
fn probes(lo: u32, hi: u32) -> array<vec4<u32>, 2> {
  let w = hi - lo;
  let q = w / 8u;
  let r = w % 8u;
  let ka = vec4<u32>(1u, 2u, 3u, 4u);
  let kb = vec4<u32>(5u, 6u, 7u, 8u);
  return array<vec4<u32>, 2>(vec4<u32>(lo) + q * ka + (r * ka) / 8u, vec4<u32>(lo) + q * kb + (r * kb) / 8u);
}

// The narrowed [lo, hi) from the kept masses at the probes. mass() is non-increasing in the probe
// (sums of nonnegative subsets in one fixed order are monotone under rounding too), so passing
// probes form a prefix.
fn narrow(lo: u32, hi: u32, pa: vec4<u32>, pb: vec4<u32>, ma: vec4<f32>, mb: vec4<f32>, goal: f32) -> vec2<u32> {
  var nlo = lo;
  var nhi = hi;
  for (var k = 0u; k < 4u; k++) {
    if (ma[k] >= goal) { nlo = max(nlo, pa[k]); } else { nhi = min(nhi, pa[k]); }
  }
  for (var k = 0u; k < 3u; k++) {
    if (mb[k] >= goal) { nlo = max(nlo, pb[k]); } else { nhi = min(nhi, pb[k]); }
  }
  return vec2<u32>(nlo, nhi);
}

// Two sums at once (the allowed tokens' mass and the full row's).
fn wg_sum2(t: u32, v: vec2<f32>) -> vec2<f32> {
  let n1 = WG / FAN;
  red_a[t] = vec4<f32>(v, 0.0, 0.0);
  workgroupBarrier();
  if (t < n1) {
    var a = vec4<f32>(0.0);
    for (var k = 0u; k < FAN; k++) { a += red_a[t + k * n1]; }
    red_a[t] = a;  // only this thread reads index t in the loop above
  }
  workgroupBarrier();
  var total = vec4<f32>(0.0);
  for (var k = 0u; k < n1; k++) { total += red_a[k]; }
  workgroupBarrier();  // red_a is free again
  return total.xy;
}

// (value, index) order for argmax: larger value first, then lower index; NONE loses to anything.
fn better(v: f32, i: u32, bv: f32, bi: u32) -> bool {
  return i != NONE && (bi == NONE || v > bv || (v == bv && i < bi));
}

@compute @workgroup_size(WG)
fn sample_rows(@builtin(local_invocation_index) t: u32,
               @builtin(workgroup_id) wid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.B) { return; }
  let V = p.V;
  let base = row * V;

  // Pass 1: max allowed logit (lowest index among equal maxima), the smallest allowed key, and
  // the max of the full row (for logp).
  var bv = 0.0;   // meaningless while bi == NONE (a thread past the end of a short row)
  var bi = NONE;
  var kmin = NONE;
  var gmax = 0.0;  // meaningless while gseen is false
  var gseen = false;
  for (var i = t; i < V; i += WG) {
    let x = logits[base + i];
    gmax = select(x, max(gmax, x), gseen);
    gseen = true;
    if (is_banned(i)) { continue; }
    if (better(x, i, bv, bi)) { bv = x; bi = i; }
    kmin = min(kmin, key(x));
  }
  let n1 = WG / FAN;
  red_f[t] = bv;
  red_i[t] = bi;
  red_k[t] = kmin;
  red_g[t] = select(logits[base], gmax, gseen);
  workgroupBarrier();
  if (t < n1) {
    var g = red_g[t];
    for (var k = 1u; k < FAN; k++) {
      let j = t + k * n1;
      if (better(red_f[j], red_i[j], bv, bi)) { bv = red_f[j]; bi = red_i[j]; }
      kmin = min(kmin, red_k[j]);
      g = max(g, red_g[j]);
    }
    red_f[t] = bv;
    red_i[t] = bi;
    red_k[t] = kmin;
    red_g[t] = g;
  }
  workgroupBarrier();
  var xmax = red_f[0];
  var imax = red_i[0];
  var kmin_all = red_k[0];
  var xfull = red_g[0];
  for (var k = 1u; k < n1; k++) {
    if (better(red_f[k], red_i[k], xmax, imax)) { xmax = red_f[k]; imax = red_i[k]; }
    kmin_all = min(kmin_all, red_k[k]);
    xfull = max(xfull, red_g[k]);
  }
  workgroupBarrier();

  let greedy = p.greedy != 0u;
  let inv_t = select(p.inv_t, 1.0, greedy);
  // max(x * inv_t) = xmax * inv_t since inv_t > 0 and rounding is monotone: the top allowed
  // token's unnormalised probability is exactly exp(0) = 1.
  let m = xmax * inv_t;
  let mf = xfull * inv_t;

  // Pass 2: the allowed mass (nucleus and draw) and the full softmax denominator (logp).
  var acc = vec2<f32>(0.0);
  for (var i = t; i < V; i += WG) {
    let x = logits[base + i] * inv_t;
    acc.y += exp(x - mf);
    if (!is_banned(i)) { acc.x += exp(x - m); }
  }
  let sums = wg_sum2(t, acc);
  let S = sums.x;
  let log_sf = log(sums.y);

  if (greedy) {
    if (t == 0u) {
      tokens[row] = imax;
      logp[row] = (logits[base + imax] - mf) - log_sf;
    }
    return;
  }

  // Nucleus threshold search. Invariant: mass(lo) >= goal > mass(hi), where mass(k) is the
  // unnormalised probability of the tokens whose key is >= k. lo = the smallest key keeps all
  // tokens; hi = one past the largest key keeps none.
  let kmax = key(xmax);
  if (t == 0u) {
    sh_lo = kmin_all;
    sh_hi = select(kmax + 1u, kmax, kmax == NONE);
  }
  var lo = workgroupUniformLoad(&sh_lo);
  var hi = workgroupUniformLoad(&sh_hi);
  let goal = p.top_p * S;
  if (p.top_p < 1.0) {
    loop {
      if (hi - lo <= 1u) { break; }
      let pr = probes(lo, hi);
      let pa = pr[0];
      let pb = pr[1];
      var sa = vec4<f32>(0.0);
      var sb = vec4<f32>(0.0);
      for (var i = t; i < V; i += WG) {
        if (is_banned(i)) { continue; }
        let x = logits[base + i];
        let k = key(x);
        if (k >= pa.x) {  // below the lowest probe: counts for none of them
          let e = vec4<f32>(exp(x * inv_t - m));
          sa += select(vec4<f32>(0.0), e, vec4<u32>(k) >= pa);
          sb += select(vec4<f32>(0.0), e, vec4<u32>(k) >= pb);
        }
      }
      red_a[t] = sa;
      red_b[t] = sb;
      workgroupBarrier();
      if (t < n1) {
        var a = vec4<f32>(0.0);
        var b = vec4<f32>(0.0);
        for (var k = 0u; k < FAN; k++) {
          a += red_a[t + k * n1];
          b += red_b[t + k * n1];
        }
        red_a[t] = a;
        red_b[t] = b;
      }
      workgroupBarrier();
      if (t == 0u) {
        var ma = vec4<f32>(0.0);
        var mb = vec4<f32>(0.0);
        for (var k = 0u; k < n1; k++) {
          ma += red_a[k];
          mb += red_b[k];
        }
        let nr = narrow(lo, hi, pa, pb, ma, mb, goal);
        sh_lo = nr.x;
        sh_hi = nr.y;
      }
      lo = workgroupUniformLoad(&sh_lo);
      hi = workgroupUniformLoad(&sh_hi);
    }
  }

  // Draw: kept mass per thread (thread-major order), inclusive scan across threads.
  var own = 0.0;
  var last = 0u;
  for (var i = t; i < V; i += WG) {
    let x = logits[base + i];
    if (key(x) >= lo && !is_banned(i)) {
      let e = exp(x * inv_t - m);
      own += e;
      if (e > 0.0) { last = i + 1u; }
    }
  }
  if (last > 0u) { atomicMax(&last_kept, last); }
  // Scan in three barriers: WG/FAN threads scan FAN consecutive sums each, thread 0 scans the
  // chunk totals, and every interval is chunk_off + in-chunk prefix, the same expression on both
  // sides of each boundary, so the intervals tile [0, total) exactly.
  red_f[t] = own;
  workgroupBarrier();
  if (t < n1) {
    var run = 0.0;
    for (var k = 0u; k < FAN; k++) {
      run += red_f[t * FAN + k];
      red_f[t * FAN + k] = run;
    }
  }
  workgroupBarrier();
  if (t == 0u) {
    var off = 0.0;
    for (var c = 0u; c < n1; c++) {
      chunk_off[c] = off;
      off = off + red_f[c * FAN + FAN - 1u];
    }
  }
  workgroupBarrier();
  let c0 = chunk_off[t / FAN];
  let incl = c0 + red_f[t];
  var excl = c0;
  if (t % FAN != 0u) { excl = c0 + red_f[t - 1u]; }
  let total = chunk_off[n1 - 1u] + red_f[WG - 1u];
  let rdraw = uniform01(row) * total;
  // Exactly one thread's [excl, incl) holds rdraw (empty intervals hold nothing).
  if (rdraw >= excl && rdraw < incl) {
    let rr = rdraw - excl;
    var a = 0.0;
    var choice = last - 1u;  // rounding fallback: this thread's last token with mass
    for (var i = t; i < V; i += WG) {
      let x = logits[base + i];
      if (key(x) >= lo && !is_banned(i)) {
        a += exp(x * inv_t - m);
        if (a > rr) {
          choice = i;
          break;
        }
      }
    }
    atomicMax(&pick_not, ~choice);
  }
  workgroupBarrier();
  if (t == 0u) {
    let pn = atomicLoad(&pick_not);
    var tok = ~pn;
    if (pn == 0u) { tok = atomicLoad(&last_kept) - 1u; }
    tokens[row] = tok;
    logp[row] = (logits[base + tok] * inv_t - mf) - log_sf;
  }
}

// ---------------------------------------------------------------------------------------------
// One thread per row (Gpu.rowKernels, for CPU adapters, which emulate barriers slowly): the same
// selection, with the same nucleus search, walking the row alone. The draw walks the kept tokens
// in index order, so a sampled token can differ from the workgroup kernel's for the same seed
// (both follow the same distribution); greedy picks and every logp are the same.

override RT: u32 = 64u;

@compute @workgroup_size(RT)
fn sample_thread(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * RT;
  if (row >= p.B) { return; }
  let V = p.V;
  let base = row * V;
  var xfull = logits[base];
  var xmax = 0.0;
  var imax = NONE;
  var kmin = NONE;
  for (var i = 0u; i < V; i++) {
    let x = logits[base + i];
    xfull = max(xfull, x);
    if (is_banned(i)) { continue; }
    if (imax == NONE || x > xmax) { xmax = x; imax = i; }
    kmin = min(kmin, key(x));
  }
  let greedy = p.greedy != 0u;
  let inv_t = select(p.inv_t, 1.0, greedy);
  let m = xmax * inv_t;
  let mf = xfull * inv_t;
  var S = 0.0;
  var Sf = 0.0;
  for (var i = 0u; i < V; i++) {
    let x = logits[base + i] * inv_t;
    Sf += exp(x - mf);
    if (!is_banned(i)) { S += exp(x - m); }
  }
  let log_sf = log(Sf);
  if (greedy) {
    tokens[row] = imax;
    logp[row] = (logits[base + imax] - mf) - log_sf;
    return;
  }
  // Nucleus threshold: the same invariant and probes as sample_rows.
  let kmax = key(xmax);
  var lo = kmin;
  var hi = select(kmax + 1u, kmax, kmax == NONE);
  let goal = p.top_p * S;
  if (p.top_p < 1.0) {
    loop {
      if (hi - lo <= 1u) { break; }
      let pr = probes(lo, hi);
      let pa = pr[0];
      let pb = pr[1];
      var ma = vec4<f32>(0.0);
      var mb = vec4<f32>(0.0);
      for (var i = 0u; i < V; i++) {
        if (is_banned(i)) { continue; }
        let x = logits[base + i];
        let k = key(x);
        if (k >= pa.x) {
          let e = vec4<f32>(exp(x * inv_t - m));
          ma += select(vec4<f32>(0.0), e, vec4<u32>(k) >= pa);
          mb += select(vec4<f32>(0.0), e, vec4<u32>(k) >= pb);
        }
      }
      let nr = narrow(lo, hi, pa, pb, ma, mb, goal);
      lo = nr.x;
      hi = nr.y;
    }
  }
  // Draw: kept mass in index order, then walk it again to the token whose interval holds u * mass.
  var total = 0.0;
  var last = imax + 1u;
  for (var i = 0u; i < V; i++) {
    let x = logits[base + i];
    if (key(x) >= lo && !is_banned(i)) {
      let e = exp(x * inv_t - m);
      total += e;
      if (e > 0.0) { last = i + 1u; }
    }
  }
  let rdraw = uniform01(row) * total;
  var a = 0.0;
  var tok = last - 1u;  // rounding fallback: the last token with mass
  for (var i = 0u; i < V; i++) {
    let x = logits[base + i];
    if (key(x) >= lo && !is_banned(i)) {
      a += exp(x * inv_t - m);
      if (a > rdraw) {
        tok = i;
        break;
      }
    }
  }
  tokens[row] = tok;
  logp[row] = (logits[base + tok] * inv_t - mf) - log_sf;
}
