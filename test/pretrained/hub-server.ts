// A local stand-in for the Hugging Face Hub: `GET|HEAD /<repo>/resolve/<revision>/<file>` serves
// files from folders with Content-Length and Range support (206 + Content-Range, as the Hub's
// CDN answers), and can be told to answer 404 for a file or to cut a file's body mid-way and drop
// the connection. Every request is logged, so tests can count what was downloaded.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, readdir, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface HubRequest {
  method: string;
  repo: string;
  file: string;
  range: string | null;
  status: number;
}

export interface LocalHub {
  url: string;
  requests: HubRequest[];
  /** Files to answer 404 for, as "repo/file" or "file" (any repo). */
  missing: Set<string>;
  /** Files whose body stops after this many bytes, then the connection is destroyed. */
  cut: Map<string, number>;
  /** Responses hold each chunk back this long (ms), so a page can be reloaded mid-download. */
  delayMs: number;
  close(): Promise<void>;
}

async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, r)));
    else out.push(r);
  }
  return out;
}

/** Serve `repos` (repo id -> folder). Listens on 127.0.0.1 at `port` (0: any free port). */
export async function startHub(repos: Record<string, string>, port = 0): Promise<LocalHub> {
  const requests: HubRequest[] = [];
  const missing = new Set<string>();
  const cut = new Map<string, number>();
  const sockets = new Set<import('node:net').Socket>();
  const hub: LocalHub = { url: '', requests, missing, cut, delayMs: 0, close: async () => {} };
  const match = (set: { has(k: string): boolean }, repo: string, file: string) => set.has(`${repo}/${file}`) || set.has(file);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // Pages on another origin (the lab's preview server) fetch from here.
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', '*');
    res.setHeader('Access-Control-Expose-Headers', 'Content-Length, Content-Range, ETag');
    if (req.method === 'OPTIONS') {
      res.writeHead(204);
      res.end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/(.+?)\/resolve\/[^/]+\/(.+)$/.exec(decodeURIComponent(url.pathname));
    const log = (status: number, repo = '', file = '') =>
      requests.push({ method: req.method ?? 'GET', repo, file, range: (req.headers.range as string) ?? null, status });
    if (!m) {
      log(404);
      res.writeHead(404);
      res.end('not found');
      return;
    }
    const [, repo, file] = m;
    const dir = repos[repo];
    const full = dir ? path.join(dir, ...file.split('/')) : '';
    const exists =
      dir &&
      !file.split('/').includes('..') &&
      (await stat(full).then(
        (s) => s.isFile(),
        () => false,
      ));
    if (!exists || match(missing, repo, file)) {
      log(404, repo, file);
      res.writeHead(404, { 'Content-Type': 'text/plain', 'X-Error-Code': 'EntryNotFound' });
      res.end('Entry not found');
      return;
    }
    const body = await readFile(full);
    const range = /^bytes=(\d+)-(\d*)$/.exec((req.headers.range as string) ?? '');
    if (range) {
      const a = Number(range[1]);
      const b = range[2] === '' ? body.length - 1 : Math.min(Number(range[2]), body.length - 1);
      log(206, repo, file);
      res.writeHead(206, {
        'Content-Length': b - a + 1,
        'Content-Range': `bytes ${a}-${b}/${body.length}`,
        'Accept-Ranges': 'bytes',
        'Content-Type': 'application/octet-stream',
      });
      res.end(req.method === 'HEAD' ? undefined : body.subarray(a, b + 1));
      return;
    }
    log(200, repo, file);
    res.writeHead(200, { 'Content-Length': body.length, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stopAt = [...cut.entries()].find(([k]) => k === `${repo}/${file}` || k === file)?.[1];
    const chunk = 64 * 1024;
    const end = stopAt ?? body.length;
    for (let o = 0; o < end; o += chunk) {
      if (hub.delayMs) await new Promise((r) => setTimeout(r, hub.delayMs));
      const ok = res.write(body.subarray(o, Math.min(o + chunk, end)));
      if (!ok) await new Promise((r) => res.once('drain', r));
    }
    if (stopAt !== undefined) {
      // The declared length was not sent: the client must see a broken body, not a short file.
      await new Promise((r) => setTimeout(r, 20));
      res.socket?.destroy();
      return;
    }
    res.end();
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      res.writeHead(500);
      res.end(String(e));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  hub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  hub.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return hub;
}

export { listFiles };
