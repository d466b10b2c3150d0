// Errors from the worker arrive through comlink as Error objects (message and name kept); anything
// else a promise may reject with is turned into a readable line here.

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name || 'unknown error';
  if (typeof e === 'string') return e;
  if (e && typeof e === 'object' && 'message' in e && typeof (e as { message: unknown }).message === 'string') {
    return (e as { message: string }).message;
  }
  try {
    return JSON.stringify(e) ?? String(e);
  } catch {
    return String(e);
  }
}

/** A cancelled job is the user's own doing: the UI says so quietly instead of raising an alert. */
export function isCancellation(message: string): boolean {
  return /\bwas cancelled\b|\baborted\b/i.test(message);
}
