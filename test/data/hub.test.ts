// The Hub downloader against a local server that speaks the Hub's URL scheme (parquet listing API,
// tree API with Link-header pages, resolve/<rev>/ files, gated repos, redirects to a "CDN"), serving
// MedVLThinker-Eval-shaped parquet written here. Nothing here touches the internet.

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { downloadHubDataset, formatHubProgress, HubError, listHubParquet, type HubProgress } from '../../src/data/hub';
import { loadMedVlThinkerEval } from '../../src/data/loaders';
import { decodeRgba } from '../../src/io/images';
import { InputError } from '../../src/engine/errors';
import { MemoryWorkspace, nodeDirSource } from '../../src/io/workspace';
import { registerData } from '../../src/cli/commands/data';
import { registerHub } from '../../src/cli/commands/hub';
import { parquetFile, pngFile, pq, seeded } from './helpers';

// ---------------------------------------------------------------------------------------------
// Fixtures: MedVLThinker-Eval rows (schema §1, images embedded as a list of {bytes, path}).

const W = 48,
  H = 40;
function noise(seed: number): Uint8Array {
  const r = seeded(seed);
  return Uint8Array.from({ length: W * H * 4 }, (_, i) => (i % 4 === 3 ? 255 : Math.floor(r() * 256)));
}

interface Row {
  q: string;
  options: Record<string, string>;
  label: string;
  name: string;
  pixels: Uint8Array;
}
function rows(seed: number, n: number): Row[] {
  return Array.from({ length: n }, (_, i) => ({
    q: `Question ${seed}.${i}: is the lesion on the left?`,
    options: { A: 'Yes', B: 'No' },
    label: i % 2 ? 'B' : 'A',
    name: i % 2 ? 'slake_closed' : 'vqa_rad_closed',
    pixels: noise(seed * 100 + i),
  }));
}
function evalParquet(rs: Row[]): Uint8Array {
  return parquetFile([
    { name: 'images', schema: pq.imageList('images'), data: rs.map((r) => [{ bytes: pngFile(W, H, r.pixels), path: null }]) },
    { name: 'question', schema: pq.str('question'), data: rs.map((r) => r.q) },
    { name: 'options', schema: pq.str('options'), data: rs.map((r) => JSON.stringify(r.options)) },
    { name: 'answer_label', schema: pq.str('answer_label'), data: rs.map((r) => r.label) },
    { name: 'answer', schema: pq.str('answer'), data: rs.map((r) => r.options[r.label]) },
    { name: 'dataset_name', schema: pq.str('dataset_name'), data: rs.map((r) => r.name) },
    { name: 'dataset_index', schema: pq.int64('dataset_index'), data: rs.map((_, i) => BigInt(i)) },
  ]);
}

const rows0 = rows(1, 3),
  rows1 = rows(2, 2),
  rowsTrain = rows(3, 2);
const shard0 = evalParquet(rows0),
  shard1 = evalParquet(rows1),
  trainShard = evalParquet(rowsTrain);

// ---------------------------------------------------------------------------------------------
// A local Hub.

interface RepoSpec {
  /** The repository's files (the tree API and resolve/main/). */
  tree: Record<string, Uint8Array>;
  /** The parquet conversion: config -> split -> files. Absent: the listing API answers 404. */
  parquet?: Record<string, Record<string, Uint8Array[]>>;
  /** Gated: this token is needed for everything. */
  token?: string;
  /** Tree API page size (Link rel="next" pages). */
  pageSize?: number;
  /** The listing service answers 500 (the tree still works). */
  listingDown?: boolean;
  /** How file bodies are sent. */
  mode?: 'ok' | 'cut' | 'slow' | 'stall' | 'html';
}

interface Hub {
  url: string;
  log: { method: string; url: string; auth?: string }[];
  repos: Record<string, RepoSpec>;
  close(): Promise<void>;
}

async function startHub(repos: Record<string, RepoSpec>): Promise<Hub> {
  const log: Hub['log'] = [];
  const server = http.createServer((req, res) => {
    log.push({ method: req.method!, url: req.url!, auth: req.headers.authorization });
    const u = new URL(req.url!, 'http://x');
    const p = decodeURIComponent(u.pathname);
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const m = /^\/(?:api\/)?datasets\/([^/]+\/[^/]+)(\/.*)?$/.exec(p) ?? /^\/cdn\/([^/]+\/[^/]+)(\/.*)$/.exec(p);
    if (!m) return json(404, { error: 'Not Found' });
    const [, repoId, rest = ''] = m;
    const spec = repos[repoId];
    if (!spec) return json(401, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
    if (spec.token && !p.startsWith('/cdn/')) {
      if (!req.headers.authorization) return json(401, { error: `Access to dataset ${repoId} is restricted. You must be authenticated to access it.` });
      if (req.headers.authorization !== `Bearer ${spec.token}`)
        return json(403, { error: `Access to dataset ${repoId} is restricted and you are not in the authorized list.` }, { 'x-error-code': 'GatedRepo' });
    }
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const sendFile = (bytes: Uint8Array) => {
      const mode = spec.mode ?? 'ok';
      if (mode === 'html') {
        res.writeHead(200, { 'content-type': 'text/html', 'content-length': 22 });
        return res.end('<html>login wall</html>'.slice(0, 22));
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
      if (req.method === 'HEAD') return res.end();
      const CHUNK = 4096;
      let o = 0;
      const step = () => {
        if (res.destroyed) return;
        if (mode === 'cut' && o >= bytes.length / 2) return res.socket?.destroy();
        if (mode === 'stall' && o >= CHUNK) return; // headers and one chunk, then silence
        if (o >= bytes.length) return res.end();
        res.write(bytes.subarray(o, o + CHUNK));
        o += CHUNK;
        setTimeout(step, mode === 'slow' ? 40 : 0);
      };
      step();
    };
    let q: RegExpExecArray | null;
    if (p.startsWith('/cdn/')) {
      const [config, split, file] = rest.slice(1).split('/');
      return sendFile(spec.parquet![config][split][Number(file.replace('.parquet', ''))]);
    }
    if (p.startsWith('/api/')) {
      if (spec.listingDown && rest.startsWith('/parquet')) return json(500, { error: 'Internal Error' });
      if (rest === '/parquet') {
        if (!spec.parquet) return json(404, { error: 'The dataset viewer is disabled for this dataset' });
        const map: Record<string, Record<string, string[]>> = {};
        for (const [c, splits] of Object.entries(spec.parquet)) {
          map[c] = {};
          for (const [s, files] of Object.entries(splits)) map[c][s] = files.map((_, i) => `${base}/api/datasets/${repoId}/parquet/${c}/${s}/${i}.parquet`);
        }
        return json(200, map);
      }
      if ((q = /^\/parquet\/([^/]+)\/([^/]+)$/.exec(rest))) {
        const files = spec.parquet?.[q[1]]?.[q[2]];
        if (!files) return json(404, { error: 'Not Found' });
        return json(
          200,
          files.map((_, i) => `${base}/api/datasets/${repoId}/parquet/${q![1]}/${q![2]}/${i}.parquet`),
        );
      }
      if ((q = /^\/parquet\/([^/]+)\/([^/]+)\/(\d+)\.parquet$/.exec(rest))) {
        // The Hub redirects file URLs to its CDN.
        res.writeHead(302, { location: `${base}/cdn/${repoId}/${q[1]}/${q[2]}/${q[3]}.parquet` });
        return res.end();
      }
      if (rest === '/tree/main' && u.searchParams.get('recursive') === 'true') {
        const entries = Object.entries(spec.tree).map(([fp, b]) =>
          fp.endsWith('.parquet')
            ? { type: 'file', path: fp, size: 134, lfs: { oid: 'x', size: b.length, pointerSize: 134 } }
            : { type: 'file', path: fp, size: b.length },
        );
        const all = [{ type: 'directory', path: 'data', size: 0 }, ...entries];
        const size = spec.pageSize ?? all.length;
        const from = Number(u.searchParams.get('cursor') ?? 0);
        const headers: Record<string, string> = {};
        if (from + size < all.length) headers.link = `<${base}/api/datasets/${repoId}/tree/main?recursive=true&cursor=${from + size}>; rel="next"`;
        return json(200, all.slice(from, from + size), headers);
      }
      return json(404, { error: 'Not Found' }, { 'x-error-code': 'RevisionNotFound' });
    }
    if ((q = /^\/resolve\/main\/(.+)$/.exec(rest))) {
      const b = spec.tree[q[1]];
      if (!b) return json(404, { error: 'Entry not found' }, { 'x-error-code': 'EntryNotFound' });
      return sendFile(b);
    }
    return json(404, { error: 'Not Found' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    log,
    repos,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const EVAL = 'UCSC-VLAA/MedVLThinker-Eval';
const TREE_ONLY = 'lab/tree-only';
const GATED = 'lab/gated';

let hub: Hub;
beforeAll(async () => {
  hub = await startHub({
    [EVAL]: {
      tree: { 'data/test-00000-of-00001.parquet': shard0, 'README.md': new TextEncoder().encode('# eval') },
      parquet: { default: { test: [shard0, shard1], train: [trainShard] } },
    },
    [TREE_ONLY]: {
      tree: {
        'README.md': new TextEncoder().encode('# card'),
        'data/test-00000-of-00002.parquet': shard0,
        'data/test-00001-of-00002.parquet': shard1,
        'data/train-00000-of-00001.parquet': trainShard,
      },
      pageSize: 2,
    },
    'lab/viewer-down': { tree: { 'test/0.parquet': shard1 }, parquet: { default: { test: [shard0] } }, listingDown: true },
    [GATED]: { tree: {}, parquet: { default: { test: [shard1] } }, token: 'hf_right' },
    'lab/configs': { tree: {}, parquet: { bones: { test: [shard0] }, skin: { test: [shard1], validation: [shard1] } } },
    'lab/cut': { tree: {}, parquet: { default: { test: [shard0, shard1] } }, mode: 'cut' },
    'lab/slow': { tree: {}, parquet: { default: { test: [shard0, shard1] } }, mode: 'slow' },
    'lab/stall': { tree: {}, parquet: { default: { test: [shard0] } }, mode: 'stall' },
    'lab/html': { tree: {}, parquet: { default: { test: [shard0] } }, mode: 'html' },
  });
});
afterAll(async () => {
  await hub.close();
});
afterEach(() => {
  hub.log.length = 0;
});

/** The rejection of a promise, for several checks on one error. */
async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

async function expectItems(src: MemoryWorkspace | ReturnType<typeof nodeDirSource>, expected: Row[]) {
  const res = await loadMedVlThinkerEval(src, { split: 'test' });
  expect(res.report.dropped).toEqual([]);
  expect(res.items.map((x) => [x.question, x.options, x.answer_label, x.dataset_name])).toEqual(expected.map((r) => [r.q, r.options, r.label, r.name]));
  for (let i = 0; i < expected.length; i++) {
    expect(res.items[i].images.length).toBe(1);
    const img = await decodeRgba(await res.items[i].images[0].load());
    expect([img.width, img.height]).toEqual([W, H]);
    expect(Uint8Array.from(img.rgba)).toEqual(expected[i].pixels);
  }
}

// ---------------------------------------------------------------------------------------------

describe('downloadHubDataset through the parquet listing', () => {
  it('downloads the split into a MemoryWorkspace that the MedVLThinker-Eval loader reads, images included', async () => {
    const events: HubProgress[] = [];
    const res = await downloadHubDataset({ repo: EVAL, split: 'test', endpoint: hub.url, onProgress: (p) => events.push(p), progressIntervalMs: 0 });
    expect(res.listing.via).toBe('parquet-api');
    expect(res.listing.config).toBe('default');
    expect(res.written).toEqual(['default/test/0.parquet', 'default/test/1.parquet']);
    expect(await res.files.list()).toEqual(res.written);
    expect(await res.files.read('default/test/0.parquet')).toEqual(shard0);
    expect(await res.files.read('default/test/1.parquet')).toEqual(shard1);
    expect(res.bytes).toBe(shard0.length + shard1.length);
    expect(res.files.name).toBe(`hf:${EVAL}`);
    await expectItems(res.files, [...rows0, ...rows1]);
    // The train split was not fetched; the sizes were asked by HEAD before the first byte.
    expect(hub.log.some((r) => r.url.includes('/train/'))).toBe(false);
    expect(
      hub.log
        .filter((r) => r.method === 'HEAD' && r.url.startsWith('/api/'))
        .map((r) => r.url)
        .sort(),
    ).toEqual([0, 1].map((i) => `/api/datasets/${EVAL}/parquet/default/test/${i}.parquet`));

    const total = shard0.length + shard1.length;
    const dl = events.filter((e) => e.phase === 'downloading');
    expect(events[0].phase).toBe('listing');
    expect(dl[0].bytesTotal).toBe(total);
    expect(dl[0].filesTotal).toBe(2);
    for (let i = 1; i < events.length; i++) {
      expect(events[i].bytesDone).toBeGreaterThanOrEqual(events[i - 1].bytesDone);
      expect(events[i].filesDone).toBeGreaterThanOrEqual(events[i - 1].filesDone);
    }
    // Progress inside a file (4 KiB chunks), not only at file ends.
    expect(dl.some((e) => e.fileBytesDone > 0 && e.fileBytesDone < e.fileBytesTotal!)).toBe(true);
    expect(dl.some((e) => e.filesDone === 1 && e.file === 'default/test/0.parquet' && e.fileBytesDone === shard0.length)).toBe(true);
    expect(dl.filter((e) => e.etaSeconds !== null).every((e) => e.etaSeconds! >= 0)).toBe(true);
    const last = events[events.length - 1];
    expect(last).toMatchObject({ phase: 'done', filesDone: 2, filesTotal: 2, bytesDone: total, bytesTotal: total, etaSeconds: 0 });
    expect(formatHubProgress(last)).toBe(`downloaded 2 of 2 files, ${(total / 1e6).toFixed(2)} MB of ${(total / 1e6).toFixed(2)} MB`);
    expect(formatHubProgress({ ...dl[1], bytesPerSecond: 2e6, etaSeconds: 12.2 })).toMatch(
      /^file 1\/2 default\/test\/0\.parquet: .* MB of .* MB, 2\.00 MB\/s, ETA 13 s$/,
    );
  });

  it('with a config uses the per-split listing; a given sink receives the files', async () => {
    const listing = await listHubParquet({ repo: EVAL, config: 'default', split: 'train', endpoint: hub.url });
    expect(hub.log.map((r) => r.url)).toEqual([`/api/datasets/${EVAL}/parquet/default/train`]);
    expect(listing.files.map((f) => f.path)).toEqual(['default/train/0.parquet']);
    const sink = new MemoryWorkspace('mine');
    const res = await downloadHubDataset({ repo: EVAL, config: 'default', split: 'train', endpoint: hub.url, sink });
    expect(res.files).toBe(sink);
    expect(await sink.read('default/train/0.parquet')).toEqual(trainShard);
  });

  it('picks the config when there is one; with several and no "default" asks for one, listing them', async () => {
    const e = await failure(listHubParquet({ repo: 'lab/configs', split: 'test', endpoint: hub.url }));
    expect(e).toBeInstanceOf(HubError);
    expect((e as HubError).kind).toBe('not-found');
    expect(e.message).toBe('hf lab/configs: lab/configs has several configs; choose one (--config): "bones", "skin"; those with split "test": "bones", "skin"');
    const l = await listHubParquet({ repo: 'lab/configs', config: 'skin', split: 'validation', endpoint: hub.url });
    expect(l.files.map((f) => f.path)).toEqual(['skin/validation/0.parquet']);
  });

  it('a split, or config, that does not exist is an error listing the ones that do', async () => {
    const e = await failure(downloadHubDataset({ repo: EVAL, split: 'validation', endpoint: hub.url }));
    expect((e as HubError).kind).toBe('not-found');
    expect(e.message).toBe(`hf ${EVAL}: no split "validation" in ${EVAL} (its splits: "test", "train")`);
    const c = await failure(downloadHubDataset({ repo: 'lab/configs', config: 'hair', split: 'test', endpoint: hub.url }));
    expect(c.message).toBe('hf lab/configs: no config "hair" in lab/configs (its configs: "bones", "skin")');
    const s = await failure(downloadHubDataset({ repo: 'lab/configs', config: 'bones', split: 'validation', endpoint: hub.url }));
    expect(s.message).toBe('hf lab/configs: no split "validation" in lab/configs config "bones" (its splits: "test")');
    const r = await failure(downloadHubDataset({ repo: 'lab/nothing', split: 'test', endpoint: hub.url }));
    expect((r as HubError).kind).toBe('not-found');
    expect(r.message).toMatch(/^hf lab\/nothing: no dataset lab\/nothing on http:\/\/127\.0\.0\.1:\d+ \(if it is private, give a token/);
  });
});

describe('downloadHubDataset through the repository tree', () => {
  it('falls back to the tree (following its pages) and resolve/main/ URLs, keeping repo paths', async () => {
    const events: HubProgress[] = [];
    const res = await downloadHubDataset({ repo: TREE_ONLY, split: 'test', endpoint: hub.url, onProgress: (p) => events.push(p), progressIntervalMs: 0 });
    expect(res.listing.via).toBe('tree');
    expect(res.listing.config).toBeNull();
    expect(res.listing.files.map((f) => [f.path, f.size])).toEqual([
      ['data/test-00000-of-00002.parquet', shard0.length],
      ['data/test-00001-of-00002.parquet', shard1.length],
    ]);
    expect(await res.files.list()).toEqual(['data/test-00000-of-00002.parquet', 'data/test-00001-of-00002.parquet']);
    await expectItems(res.files, [...rows0, ...rows1]);
    const urls = hub.log.map((r) => `${r.method} ${r.url}`);
    expect(urls).toEqual([
      `GET /api/datasets/${TREE_ONLY}/parquet`,
      `GET /api/datasets/${TREE_ONLY}/tree/main?recursive=true`,
      `GET /api/datasets/${TREE_ONLY}/tree/main?recursive=true&cursor=2`,
      `GET /api/datasets/${TREE_ONLY}/tree/main?recursive=true&cursor=4`,
      `GET /datasets/${TREE_ONLY}/resolve/main/data/test-00000-of-00002.parquet`,
      `GET /datasets/${TREE_ONLY}/resolve/main/data/test-00001-of-00002.parquet`,
    ]);
    // Sizes from the tree's LFS entries: the total is known from the first event on.
    expect(events.find((e) => e.phase === 'downloading')!.bytesTotal).toBe(shard0.length + shard1.length);
  });

  it('is used too when the listing service fails (HTTP 500), with or without a config', async () => {
    for (const config of [undefined, 'default']) {
      const res = await downloadHubDataset({ repo: 'lab/viewer-down', config, split: 'test', endpoint: hub.url });
      expect([res.listing.via, res.written]).toEqual(['tree', ['test/0.parquet']]);
      expect(await res.files.read('test/0.parquet')).toEqual(shard1);
    }
  });

  it('a split the tree lacks names the splits its parquet files hold', async () => {
    const e = await failure(downloadHubDataset({ repo: TREE_ONLY, split: 'validation', endpoint: hub.url }));
    expect((e as HubError).kind).toBe('not-found');
    expect(e.message).toBe(`hf ${TREE_ONLY}: no parquet files for split "validation" in the repository (its parquet files hold the splits "test", "train")`);
  });
});

describe('gated datasets', () => {
  it('without a token: 401 says gated and how to get access; a wrong token: refused; the right one downloads', async () => {
    const e = await failure(downloadHubDataset({ repo: GATED, split: 'test', endpoint: hub.url }));
    expect(e).toBeInstanceOf(InputError);
    expect((e as HubError).kind).toBe('auth');
    expect(e.message).toContain(`hf ${GATED}: dataset ${GATED} needs a Hugging Face token (HTTP 401): the dataset is gated or private`);
    expect(e.message).toContain(`open ${hub.url}/datasets/${GATED} while logged in, accept its terms`);
    expect(e.message).toContain('(the Hub says: Access to dataset lab/gated is restricted. You must be authenticated to access it.)');

    const w = await failure(downloadHubDataset({ repo: GATED, split: 'test', endpoint: hub.url, token: 'hf_wrong' }));
    expect((w as HubError).kind).toBe('auth');
    expect(w.message).toContain('was refused for the token given (HTTP 403)');

    hub.log.length = 0;
    const ok = await downloadHubDataset({ repo: GATED, split: 'test', endpoint: hub.url, token: 'hf_right' });
    expect(await ok.files.read('default/test/0.parquet')).toEqual(shard1);
    // The token went with every request (here the "CDN" is on the endpoint's own origin).
    expect(hub.log.length).toBeGreaterThan(2);
    expect(hub.log.every((r) => r.auth === 'Bearer hf_right')).toBe(true);
  });
});

describe('failures mid-way leave nothing partial', () => {
  it('a connection closed mid-body is a "cut" error naming the file, and the sink gets no file', async () => {
    const sink = new MemoryWorkspace('sink');
    const e = await failure(downloadHubDataset({ repo: 'lab/cut', split: 'test', endpoint: hub.url, sink }));
    expect(e).toBeInstanceOf(HubError);
    expect((e as HubError).kind).toBe('cut');
    expect(e.message).toMatch(
      new RegExp(
        `^hf lab/cut: the download of default/test/0\\.parquet was cut after (\\d+) of ${shard0.length} bytes \\(.+\\); nothing of it was kept, run again to retry$`,
      ),
    );
    const got = Number(/after (\d+) of/.exec(e.message)![1]);
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThan(shard0.length);
    expect(await sink.list()).toEqual([]);
  });

  it('a server that answers 200 with a web page instead of parquet is refused', async () => {
    const sink = new MemoryWorkspace('sink');
    const e = await failure(downloadHubDataset({ repo: 'lab/html', split: 'test', endpoint: hub.url, sink }));
    expect((e as HubError).kind).toBe('bad-response');
    expect(e.message).toContain('default/test/0.parquet (0.00 MB, text/html) is not a parquet file');
    expect(await sink.list()).toEqual([]);
  });

  it('a download that stalls fails after the stall timeout', async () => {
    const sink = new MemoryWorkspace('sink');
    const e = await failure(downloadHubDataset({ repo: 'lab/stall', split: 'test', endpoint: hub.url, sink, stallTimeoutMs: 300 }));
    expect((e as HubError).kind).toBe('stalled');
    expect(e.message).toBe(
      `hf lab/stall: the download of default/test/0.parquet (after 4096 bytes): nothing arrived from ${hub.url} for 0.3 s; the connection stalled, run again to retry`,
    );
    expect(await sink.list()).toEqual([]);
  });

  it('the abort signal stops a download in flight; the promise rejects with an AbortError', async () => {
    const sink = new MemoryWorkspace('sink');
    const ac = new AbortController();
    let lastBytes = 0;
    const e = await failure(
      downloadHubDataset({
        repo: 'lab/slow',
        split: 'test',
        endpoint: hub.url,
        sink,
        signal: ac.signal,
        progressIntervalMs: 0,
        onProgress: (p) => {
          lastBytes = p.bytesDone;
          if (p.fileBytesDone > 0) ac.abort();
        },
      }),
    );
    expect(e.name).toBe('AbortError');
    expect(lastBytes).toBeLessThan(shard0.length);
    expect(await sink.list()).toEqual([]);
    // A signal aborted before the call stops it before any request.
    hub.log.length = 0;
    const pre = new AbortController();
    pre.abort();
    expect((await failure(downloadHubDataset({ repo: EVAL, split: 'test', endpoint: hub.url, signal: pre.signal }))).name).toBe('AbortError');
    expect(hub.log).toEqual([]);
  });

  it('a server that is not there gives the offline message', async () => {
    const gone = await startHub({});
    await gone.close();
    const e = await failure(downloadHubDataset({ repo: EVAL, split: 'test', endpoint: gone.url }));
    expect((e as HubError).kind).toBe('offline');
    expect(e.message).toBe(
      `hf ${EVAL}: cannot reach ${gone.url}: you are offline or the Hub is blocked; import the files from a folder instead (ECONNREFUSED)`,
    );
  });

  it('bad arguments are InputErrors before any request', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ repo: '../etc', split: 'test' }, /^repo: "\.\.\/etc" is not a Hub dataset id/],
      [{ repo: 'a/b/c', split: 'test' }, /^repo: "a\/b\/c" is not a Hub dataset id/],
      [{ repo: EVAL, split: 'te/st' }, /^split: "te\/st" is not a valid split name/],
      [{ repo: EVAL, split: 'test', config: '' }, /^config: "" is not a valid config name/],
      [{ repo: EVAL, split: 'test', endpoint: 'ftp://mirror' }, /^endpoint: "ftp:\/\/mirror" is not an http\(s\) URL/],
    ];
    for (const [o, re] of cases) {
      const e = await failure(downloadHubDataset({ endpoint: hub.url, ...o } as never));
      expect(e).toBeInstanceOf(InputError);
      expect(e.message).toMatch(re);
    }
    expect(hub.log).toEqual([]);
  });

  it('isComplete skips files already there, counting their bytes as done', async () => {
    const events: HubProgress[] = [];
    const res = await downloadHubDataset({
      repo: EVAL,
      split: 'test',
      endpoint: hub.url,
      isComplete: (f) => f.path === 'default/test/0.parquet' && f.size === shard0.length,
      onProgress: (p) => events.push(p),
      progressIntervalMs: 0,
    });
    expect([res.skipped, res.written, res.bytes]).toEqual([['default/test/0.parquet'], ['default/test/1.parquet'], shard1.length]);
    expect(hub.log.filter((r) => r.method === 'GET' && r.url.includes('/cdn/')).map((r) => r.url)).toEqual([`/cdn/${EVAL}/default/test/1.parquet`]);
    expect(events[events.length - 1]).toMatchObject({ bytesDone: shard0.length + shard1.length, filesDone: 2 });
  });
});

// ---------------------------------------------------------------------------------------------

describe('thinker data hub', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function thinker(args: string[]): Promise<{ out: string; err: string; error?: Error }> {
    const program = new Command('thinker').exitOverride();
    registerData(program);
    registerHub(program);
    let out = '',
      err = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out += String(s);
      return true;
    });
    const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
      err += String(s);
      return true;
    });
    try {
      await program.parseAsync(args, { from: 'user' });
      return { out, err };
    } catch (e) {
      return { out, err, error: e as Error };
    } finally {
      spy.mockRestore();
      spyErr.mockRestore();
    }
  }

  async function allFiles(dir: string): Promise<string[]> {
    return (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
      .sort();
  }

  it('downloads into a folder the loader reads; a second run keeps complete files; --force fetches again', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'thinker-hub-'));
    dirs.push(dir);
    const out = path.join(dir, 'eval');
    const r = await thinker(['data', 'hub', TREE_ONLY, '--split', 'test', '--endpoint', hub.url, '--out', out]);
    expect(r.error).toBeUndefined();
    expect(r.out).toContain(`${TREE_ONLY} split "test" from the repository files: 2 file(s) downloaded`);
    expect(await allFiles(out)).toEqual(['data/test-00000-of-00002.parquet', 'data/test-00001-of-00002.parquet']);
    // Off a terminal, progress is one stderr line per finished file.
    expect(
      r.err
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/: .*/, '')),
    ).toEqual(['1/2 done, data/test-00000-of-00002.parquet', '2/2 done, data/test-00001-of-00002.parquet']);
    expect(new Uint8Array(await readFile(path.join(out, 'data/test-00001-of-00002.parquet')))).toEqual(shard1);
    await expectItems(nodeDirSource(out), [...rows0, ...rows1]);

    hub.log.length = 0;
    const again = await thinker(['data', 'hub', TREE_ONLY, '--split', 'test', '--endpoint', hub.url, '--out', out]);
    expect(again.out).toContain('0 file(s) downloaded (0.00 MB), 2 already complete');
    expect(hub.log.some((l) => l.url.includes('/resolve/'))).toBe(false);

    // A file of the wrong size (not ours: ours are written whole) is fetched again.
    await writeFile(path.join(out, 'data/test-00000-of-00002.parquet'), 'stale');
    const fix = await thinker(['data', 'hub', TREE_ONLY, '--split', 'test', '--endpoint', hub.url, '--out', out]);
    expect(fix.out).toContain('1 file(s) downloaded');
    expect(new Uint8Array(await readFile(path.join(out, 'data/test-00000-of-00002.parquet')))).toEqual(shard0);

    const forced = await thinker(['data', 'hub', TREE_ONLY, '--split', 'test', '--endpoint', hub.url, '--out', out, '--force']);
    expect(forced.out).toContain('2 file(s) downloaded');
  });

  it('a cut download leaves no file (and no temp file) in the folder; errors name the repo', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'thinker-hub-'));
    dirs.push(dir);
    const r = await thinker(['data', 'hub', 'lab/cut', '--split', 'test', '--endpoint', hub.url, '--out', dir]);
    expect(r.error).toBeInstanceOf(HubError);
    expect(r.error!.message).toMatch(/^hf lab\/cut: the download of default\/test\/0\.parquet was cut after/);
    expect(await allFiles(dir)).toEqual([]);
    const g = await thinker(['data', 'hub', GATED, '--split', 'test', '--endpoint', hub.url, '--out', dir]);
    expect(g.error!.message).toContain('needs a Hugging Face token');
    await mkdir(path.join(dir, 'x'), { recursive: true });
    await writeFile(path.join(dir, 'file'), '');
    const f = await thinker(['data', 'hub', EVAL, '--split', 'test', '--endpoint', hub.url, '--out', path.join(dir, 'file')]);
    expect(f.error!.message).toMatch(/file: is a file; --out must be a folder$/);
  });
});
