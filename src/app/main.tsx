import { createRoot } from 'react-dom/client';
import { App, installGlobalErrorHandlers } from './App';
import { getEngine, Comlink } from './engine-client';
import { getPretrained } from '../pretrained/client';
import './styles.css';

// Test and console hook: the same worker APIs the UI uses (the lab engine, the pretrained-model
// backend), reachable from DevTools or Playwright.
// Reaching for the engine starts the worker, so the UI does that only after its WebGPU check.
(window as unknown as { thinker: unknown }).thinker = { engine: getEngine, pretrained: getPretrained, proxy: Comlink.proxy };

installGlobalErrorHandlers();
createRoot(document.getElementById('root')!).render(<App />);
