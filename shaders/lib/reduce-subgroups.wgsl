enable subgroups;

// groupSum and groupMax of reduce.wgsl (same contract) with subgroup operations: each subgroup
// reduces its lanes, one lane per subgroup leaves the result in workgroup memory, and every
// subgroup folds those partials. Two barriers per call instead of log2(WG) + 1. Nothing assumes
// a subgroup size (4 on SwiftShader, 32 on NVIDIA, up to 128 elsewhere) or which invocations form
// a subgroup: a lane's rank and its subgroup's width are counted (subgroupExclusiveAdd and
// subgroupAdd of 1), and every subgroup folds the same slots in the same order, so all
// invocations get the same bits, run after run.

var<workgroup> groupScratch: array<f32, WG>;
var<workgroup> groupTotal: f32;

// Sum of groupScratch[0 .. WG) by the calling subgroup: lane r adds slots r, r + n, r + 2n, ...
fn foldScratchSum() -> f32 {
  let r = subgroupExclusiveAdd(1u);
  let n = subgroupAdd(1u);
  var a = 0.0;
  for (var e = r; e < WG; e += n) { a += groupScratch[e]; }
  return subgroupAdd(a);
}

fn foldScratchMax() -> f32 {
  let r = subgroupExclusiveAdd(1u);
  let n = subgroupAdd(1u);
  var a = groupScratch[r];
  for (var e = r + n; e < WG; e += n) { a = max(a, groupScratch[e]); }
  return subgroupMax(a);
}

fn groupSum(t: u32, x: f32) -> f32 {
  let part = subgroupAdd(x);
  // The other lanes' slots hold 0, so the fold needs no subgroup index.
  groupScratch[t] = select(0.0, part, subgroupElect());
  workgroupBarrier();
  let total = foldScratchSum();
  if (t == 0u) { groupTotal = total; }
  // Its barrier also keeps the next call's writes to groupScratch after this call's reads.
  return workgroupUniformLoad(&groupTotal);
}

fn groupMax(t: u32, x: f32) -> f32 {
  // Every lane writes its subgroup's max: copies of a maximum leave the maximum unchanged.
  groupScratch[t] = subgroupMax(x);
  workgroupBarrier();
  let total = foldScratchMax();
  if (t == 0u) { groupTotal = total; }
  return workgroupUniformLoad(&groupTotal);
}
