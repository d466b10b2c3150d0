import { WEBGPU_BROWSERS } from '../lib/webgpu';

/** Shown instead of the lab when WebGPU is missing or no GPU could be had. */
export function NoWebGpuPage({ problem }: { problem: string }) {
  return (
    <main className="nowebgpu" data-testid="no-webgpu">
      <h1>Thinker Lab needs WebGPU</h1>
      <p className="lede">The lab trains and runs its models on your GPU, from this tab, through WebGPU. This browser could not give it a GPU:</p>
      <p className="problem" data-testid="no-webgpu-reason">
        {problem}
      </p>
      <h2>Browsers with WebGPU</h2>
      <table className="table">
        <thead>
          <tr>
            <th>Browser</th>
            <th>How</th>
          </tr>
        </thead>
        <tbody>
          {WEBGPU_BROWSERS.map((b) => (
            <tr key={b.browser} data-testid="webgpu-browser">
              <td>{b.browser}</td>
              {/* Each flag in one piece: a flag broken across lines is copied wrong. */}
              <td>
                {b.how}
                {b.flags?.map((f) => (
                  <span key={f}>
                    {' '}
                    <code className="flag">{f}</code>
                  </span>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted">
        Check <code>chrome://gpu</code> (or <code>edge://gpu</code>) for "WebGPU: Hardware accelerated". Pages must come from <code>https://</code> or{' '}
        <code>localhost</code>. Without a GPU in the browser, the same engine runs from a terminal: <code>npx thinker</code> (Node with Dawn).
      </p>
      <button className="btn" onClick={() => location.reload()}>
        Try again
      </button>
    </main>
  );
}
