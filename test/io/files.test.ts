import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtemp, rm, readdir, readFile, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/engine/errors';
import { readJson, type FileSink, type FileSource } from '../../src/io/files';
import { MemoryWorkspace, browserDirSink, browserDirSource, nodeDirSink, nodeDirSource } from '../../src/io/workspace';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function expectInputError(p: Promise<unknown>, where: string, msg: RegExp) {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an InputError').toBeInstanceOf(InputError);
  expect((err as InputError).where).toBe(where);
  expect((err as Error).message).toMatch(msg);
}

/** The behaviour every FileSource/FileSink pair must share. */
async function exercise(src: FileSource, sink: FileSink, name: string) {
  await sink.write('config.json', bytes('{"a": 1}'));
  await sink.write('shards/part-1.bin', new Uint8Array([1, 2, 3]));
  await sink.write('shards/deeper/x.txt', bytes('x'));
  await sink.write('config.json', bytes('{"a": 2}')); // overwrite
  expect(await src.list()).toEqual(['config.json', 'shards/deeper/x.txt', 'shards/part-1.bin']);
  expect(await readJson(src, 'config.json')).toEqual({ a: 2 });
  expect(Array.from(await src.read('shards/part-1.bin'))).toEqual([1, 2, 3]);
  expect(Array.from(await src.read('./shards//part-1.bin'))).toEqual([1, 2, 3]);
  expect(await src.exists('shards/deeper/x.txt')).toBe(true);
  expect(await src.exists('missing.json')).toBe(false);
  expect(await src.exists('nodir/missing.json')).toBe(false);
  await expectInputError(src.read('missing.json'), `${name}/missing.json`, /file not found/);
  await expectInputError(src.read('nodir/missing.json'), `${name}/nodir/missing.json`, /file not found/);
  for (const bad of ['../escape.txt', '/etc/passwd', 'a/../../b', '']) {
    await expectInputError(src.read(bad), `${name}/${bad}`, /not a relative path inside the folder/);
    await expect(sink.write(bad, bytes('x'))).rejects.toBeInstanceOf(InputError);
  }
  // Bad JSON names the file.
  await sink.write('broken.json', bytes('{"a": '));
  await expectInputError(readJson(src, 'broken.json'), `${name}/broken.json`, /not valid JSON/);
  await sink.write('latin1.json', new Uint8Array([0x7b, 0xe9, 0x7d]));
  await expectInputError(readJson(src, 'latin1.json'), `${name}/latin1.json`, /not valid UTF-8/);
}

describe('MemoryWorkspace', () => {
  it('behaves as a folder', async () => {
    const m = new MemoryWorkspace('mem');
    await exercise(m, m, 'mem');
  });
  it('copies on read and write so callers cannot alias stored bytes', async () => {
    const m = new MemoryWorkspace('mem', { 'a.txt': 'hi' });
    const b = new Uint8Array([1, 2]);
    await m.write('b.bin', b);
    b[0] = 9;
    const r = await m.read('b.bin');
    r[1] = 9;
    expect(Array.from(await m.read('b.bin'))).toEqual([1, 2]);
    expect(text(await m.read('a.txt'))).toBe('hi');
  });
});

describe('Node directory source and sink', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'thinker-files-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('behaves as a folder', async () => {
    await exercise(nodeDirSource(dir), nodeDirSink(dir), dir);
    expect(text(await readFile(join(dir, 'shards/deeper/x.txt')))).toBe('x');
  });

  it('writes atomically: no temp files left, and a failed write leaves the old file and no debris', async () => {
    const sink = nodeDirSink(dir);
    await sink.write('w.bin', new Uint8Array(1000).fill(7));
    expect(await readdir(dir)).toEqual(['w.bin']);
    // A folder where the file should go makes the final rename fail.
    await mkdir(join(dir, 'blocked'));
    await writeFile(join(dir, 'blocked', 'keep.txt'), 'keep');
    await expect(sink.write('blocked', bytes('new'))).rejects.toThrow();
    expect((await readdir(dir)).sort()).toEqual(['blocked', 'w.bin']);
    expect(text(await readFile(join(dir, 'blocked', 'keep.txt')))).toBe('keep');
  });

  it('names a missing folder', async () => {
    const gone = join(dir, 'nope');
    await expectInputError(nodeDirSource(gone).list(), gone, /folder not found/);
    await expectInputError(nodeDirSource(dir).read('.'), `${dir}/.`, /not a relative path/);
  });
});

// A minimal in-memory stand-in for the File System Access API (OPFS / showDirectoryPicker), with
// the spec's observable behaviour: NotFoundError for missing entries, TypeMismatchError for a
// file where a folder is expected, and writes that become visible only on close().
class FakeFile {
  readonly kind = 'file';
  data = new Uint8Array(0);
  constructor(readonly name: string) {}
  async getFile() {
    return new Blob([this.data.slice()]);
  }
  async createWritable() {
    const chunks: Uint8Array[] = [];
    return {
      write: async (d: Uint8Array) => {
        chunks.push(d.slice());
      },
      close: async () => {
        const n = chunks.reduce((a, c) => a + c.length, 0);
        const out = new Uint8Array(n);
        let o = 0;
        for (const c of chunks) {
          out.set(c, o);
          o += c.length;
        }
        this.data = out;
      },
      abort: async () => {
        chunks.length = 0;
      },
    };
  }
}
const domError = (name: string) => Object.assign(new Error(name), { name });
class FakeDir {
  readonly kind = 'directory';
  children = new Map<string, FakeDir | FakeFile>();
  constructor(readonly name: string) {}
  async getDirectoryHandle(n: string, o: { create?: boolean } = {}) {
    let c = this.children.get(n);
    if (!c) {
      if (!o.create) throw domError('NotFoundError');
      this.children.set(n, (c = new FakeDir(n)));
    }
    if (c.kind !== 'directory') throw domError('TypeMismatchError');
    return c;
  }
  async getFileHandle(n: string, o: { create?: boolean } = {}) {
    let c = this.children.get(n);
    if (!c) {
      if (!o.create) throw domError('NotFoundError');
      this.children.set(n, (c = new FakeFile(n)));
    }
    if (c.kind !== 'file') throw domError('TypeMismatchError');
    return c;
  }
  async *entries() {
    yield* this.children.entries();
  }
}

describe('browser directory-handle source and sink', () => {
  it('behaves as a folder', async () => {
    const root = new FakeDir('picked') as unknown as FileSystemDirectoryHandle;
    await exercise(browserDirSource(root), browserDirSink(root), 'picked');
  });
  it('reports a file used as a folder as not found', async () => {
    const root = new FakeDir('opfs');
    const h = root as unknown as FileSystemDirectoryHandle;
    await browserDirSink(h).write('a', bytes('x'));
    expect(await browserDirSource(h).exists('a/b')).toBe(false);
    await expectInputError(browserDirSource(h).read('a/b'), 'opfs/a/b', /file not found/);
  });
});
