// Workgroup-wide sum and max for the kernels that reduce across a workgroup (a row per workgroup
// in norm and attention, the grad norm's partial sums). The engine links this file in front of
// those families' code (src/engine/kernels/reduce.ts), or reduce-subgroups.wgsl, which defines the
// same two functions with subgroup operations, where the device has the `subgroups` feature.
// WG, the workgroup size (a power of two), is the family's own override.
//
// Callers must be in workgroup-uniform control flow. Every invocation gets the result, as a
// workgroup-uniform value (a caller may branch on it around barriers), and every workgroup-memory
// write made before the call is visible to every invocation after it.

var<workgroup> groupScratch: array<f32, WG>;

fn groupSum(t: u32, x: f32) -> f32 {
  groupScratch[t] = x;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (t < s) { groupScratch[t] += groupScratch[t + s]; }
  }
  let r = workgroupUniformLoad(&groupScratch[0]);
  workgroupBarrier(); // nobody may overwrite groupScratch[0] before everyone has read it
  return r;
}

fn groupMax(t: u32, x: f32) -> f32 {
  groupScratch[t] = x;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (t < s) { groupScratch[t] = max(groupScratch[t], groupScratch[t + s]); }
  }
  let r = workgroupUniformLoad(&groupScratch[0]);
  workgroupBarrier();
  return r;
}
