// Float64 references for the activations. Derivatives are written in a different form from the
// kernel's (quotient rule on g/(1+e^-g); sech^2 for tanh) and are themselves checked against
// central differences in the test.

export const silu = (g: number) => g / (1 + Math.exp(-g));
export const siluGrad = (g: number) => {
  const e = Math.exp(-g);
  // d/dg [g / (1 + e^-g)] = (1 + e^-g + g e^-g) / (1 + e^-g)^2
  return Number.isFinite(e) ? (1 + e + g * e) / (1 + e) ** 2 : 0;
};

const K = Math.sqrt(2 / Math.PI);
const C = 0.044715;
export const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(K * (x + C * x ** 3)));
export const geluGrad = (x: number) => {
  const u = K * (x + C * x ** 3);
  const sech2 = 1 / Math.cosh(u) ** 2;
  return 0.5 * (1 + Math.tanh(u)) + 0.5 * x * sech2 * K * (1 + 3 * C * x * x);
};

export function swigluRef(gate: ArrayLike<number>, up: ArrayLike<number>, dh: ArrayLike<number>) {
  const n = gate.length;
  const h = new Float64Array(n),
    dgate = new Float64Array(n),
    dup = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    h[i] = silu(gate[i]) * up[i];
    dgate[i] = dh[i] * up[i] * siluGrad(gate[i]);
    dup[i] = dh[i] * silu(gate[i]);
  }
  return { h, dgate, dup };
}

export function geluRef(x: ArrayLike<number>, dy: ArrayLike<number>) {
  const n = x.length;
  const y = new Float64Array(n),
    dx = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = gelu(x[i]);
    dx[i] = dy[i] * geluGrad(x[i]);
  }
  return { y, dx };
}
