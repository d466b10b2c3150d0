// Bounds the kernels are written for, shared with the config checks (src/model/config.ts) so a
// model the kernels cannot run is refused when its config is read, not at its first forward pass.

/** The attention kernels size their per-row workgroup arrays for this head dim. */
export const HEAD_DIM_MAX = 128;
/** Row bounds are staged as f32 in the attention backward pass, and rotary angles come from f32 positions: indices must stay exact. */
export const MAX_EXACT = 1 << 24;
