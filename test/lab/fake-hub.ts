// An in-memory Hugging Face Hub behind a fetch function: resolve/<revision>/<file> URLs of model
// repositories as huggingface.co answers them (X-Repo-Commit, ETag, Accept-Ranges, 206 with
// Content-Range, If-Range, 404 EntryNotFound, 401 RepoNotFound for an unknown repository, 401/403
// for a gated one), with bodies that can be cut part-way or trickle. Every request is logged, so a
// test can say exactly what was fetched. Nothing here touches the network.

export const HUB = 'https://hub.test';

export interface FakeRepo {
  files: Record<string, Uint8Array>;
  /** The commit "main" resolves to (40 hex). */
  commit?: string;
  /** Send no X-Repo-Commit (a mirror that does not): downloads cannot pin a commit. */
  noCommit?: boolean;
  /** Gated: this token is needed. */
  token?: string;
  /** Honour Range requests (default true). */
  ranges?: boolean;
  /** Break the body of `file` once it has sent up to byte `at` of the file, for the next `times` GETs of it (default 1). */
  cut?: { file: string; at: number; times?: number };
  /** Milliseconds between body chunks (default 0). */
  delayMs?: number;
  /** Bytes per body chunk (default 1000). */
  chunk?: number;
}

export interface LoggedRequest {
  method: string;
  url: string;
  /** The file path after resolve/<revision>/, and the revision. */
  file: string;
  revision: string;
  range?: string;
  ifRange?: string;
  auth?: string;
}

export interface FakeHub {
  fetch: typeof fetch;
  log: LoggedRequest[];
  repos: Record<string, FakeRepo>;
  /** GETs of one file. */
  gets(file: string): LoggedRequest[];
}

export const COMMIT = '0123456789abcdef0123456789abcdef01234567';

/** A strong ETag from the bytes (FNV-1a), as the Hub's are content hashes. */
function etagOf(b: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193) >>> 0;
  return `"${h.toString(16)}-${b.length}"`;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

export function fakeHub(repos: Record<string, FakeRepo>): FakeHub {
  const log: LoggedRequest[] = [];
  const impl = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = init.method ?? 'GET';
    const h = new Headers(init.headers);
    const m = /^https:\/\/hub\.test\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    const entry: LoggedRequest = {
      method,
      url,
      file: m ? decodeURIComponent(m[3]) : '',
      revision: m ? decodeURIComponent(m[2]) : '',
      ...(h.get('range') ? { range: h.get('range')! } : {}),
      ...(h.get('if-range') ? { ifRange: h.get('if-range')! } : {}),
      ...(h.get('authorization') ? { auth: h.get('authorization')! } : {}),
    };
    log.push(entry);
    if (init.signal?.aborted) throw init.signal.reason;
    if (!m) return json(404, { error: 'Not Found' });
    const repo = repos[m[1]];
    if (!repo) return json(401, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
    if (repo.token && entry.auth !== `Bearer ${repo.token}`) {
      return entry.auth
        ? json(403, { error: `Access to model ${m[1]} is restricted and you are not in the authorized list.` }, { 'x-error-code': 'GatedRepo' })
        : json(
            401,
            { error: `Access to model ${m[1]} is restricted. You must have access to it and be authenticated to access it.` },
            { 'x-error-code': 'GatedRepo' },
          );
    }
    const commit = repo.commit ?? COMMIT;
    if (entry.revision !== 'main' && entry.revision !== commit) return json(404, { error: 'Invalid rev id' }, { 'x-error-code': 'RevisionNotFound' });
    const bytes = repo.files[entry.file];
    const commitHeader: Record<string, string> = repo.noCommit ? {} : { 'x-repo-commit': commit };
    if (!bytes) return json(404, { error: 'Entry not found' }, { 'x-error-code': 'EntryNotFound', ...commitHeader });
    const etag = etagOf(bytes);
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', etag, ...commitHeader };
    if (repo.ranges !== false) headers['accept-ranges'] = 'bytes';
    let start = 0;
    let status = 200;
    const r = /^bytes=(\d+)-$/.exec(entry.range ?? '');
    if (r && repo.ranges !== false && (!entry.ifRange || entry.ifRange === etag)) {
      start = Number(r[1]);
      if (start >= bytes.length) return new Response(null, { status: 416, headers: { 'content-range': `bytes */${bytes.length}` } });
      status = 206;
      headers['content-range'] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
    }
    headers['content-length'] = String(bytes.length - start);
    if (method === 'HEAD') return new Response(null, { status, headers });
    const cut = repo.cut && repo.cut.file === entry.file && (repo.cut.times ?? 1) > 0 ? repo.cut : null;
    if (cut) cut.times = (cut.times ?? 1) - 1;
    const size = repo.chunk ?? 1000;
    let at = start;
    const signal = init.signal;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (repo.delayMs) await new Promise((res) => setTimeout(res, repo.delayMs));
        if (signal?.aborted) return c.error(signal.reason);
        if (cut && at >= cut.at) return c.error(new TypeError('terminated: other side closed'));
        if (at >= bytes.length) return c.close();
        const end = Math.min(bytes.length, at + size, cut ? Math.max(cut.at, at + 1) : bytes.length);
        c.enqueue(bytes.slice(at, end));
        at = end;
      },
    });
    return new Response(body, { status, headers });
  };
  return {
    fetch: impl as typeof fetch,
    log,
    repos,
    gets: (file) => log.filter((e) => e.method === 'GET' && e.file === file),
  };
}
