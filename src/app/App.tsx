import { useEffect, useState } from 'react';
import { AlertCount, Alerts } from './components/Alerts';
import { Header } from './components/Header';
import { JobBar } from './components/JobBar';
import { hashOf, pageFromHash, PAGES, type PageId } from './lib/route';
import { AskPage } from './pages/AskPage';
import { DataPage } from './pages/DataPage';
import { EvaluatePage } from './pages/EvaluatePage';
import { ModelsPage } from './pages/ModelsPage';
import { NoWebGpuPage } from './pages/NoWebGpuPage';
import { RolloutsPage } from './pages/RolloutsPage';
import { TrainPage } from './pages/TrainPage';
import { useJobs } from './stores/jobs';
import { useSession } from './stores/session';

const VIEWS: Record<PageId, () => React.JSX.Element> = {
  data: DataPage,
  train: TrainPage,
  rollouts: RolloutsPage,
  evaluate: EvaluatePage,
  ask: AskPage,
  models: ModelsPage,
};

function useHashPage(): PageId {
  const [page, setPage] = useState<PageId>(() => pageFromHash(location.hash));
  useEffect(() => {
    const on = () => setPage(pageFromHash(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return page;
}

/** The lab: a status header, the page nav, the current job and alerts, and one page. */
export function App() {
  const status = useSession((s) => s.status);
  const problem = useSession((s) => s.problem);
  const start = useSession((s) => s.start);
  const page = useHashPage();
  useEffect(() => {
    void start();
  }, [start]);

  if (status === 'unavailable') return <NoWebGpuPage problem={problem ?? 'WebGPU is not available.'} />;
  if (status !== 'ready') {
    return (
      <main className="starting" data-testid="starting">
        <div className="spinner" /> Starting the GPU engine…
      </main>
    );
  }
  const View = VIEWS[page];
  return (
    <div className="shell">
      <Header />
      <nav className="nav" aria-label="pages">
        {PAGES.map((p, i) => (
          <a
            key={p.id}
            href={hashOf(p.id)}
            className={p.id === page ? 'on' : undefined}
            data-testid={`nav-${p.id}`}
            aria-current={p.id === page ? 'page' : undefined}
          >
            <span className="nav-num">{i + 1}</span>
            <span className="nav-text">
              <span className="nav-label">{p.label}</span>
              <span className="nav-hint">{p.hint}</span>
            </span>
            {p.id !== page && <AlertCount page={p.id} />}
          </a>
        ))}
        <p className="nav-foot">Everything runs on this computer's GPU, in this tab. Your data and models stay in this browser's storage.</p>
      </nav>
      <main className="content">
        <div className="sticky-status">
          <JobBar />
        </div>
        <Alerts page={page} />
        <View />
      </main>
    </div>
  );
}

/**
 * A rejection no store caught is a bug; it is shown as an alert so the user sees it, and left in
 * the console (not prevented) so tests that watch the console still catch it.
 */
export function installGlobalErrorHandlers(): void {
  window.addEventListener('unhandledrejection', (e) => {
    const r = e.reason as { message?: string } | undefined;
    useJobs.getState().alert(r?.message ?? String(e.reason));
  });
}
