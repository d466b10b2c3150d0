// The storage every host shares: the same behaviour from memory and from a Node folder (the
// browser's OPFS implementation runs in the e2e tests), and folder writes that are never torn.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InputError } from '../../src/engine/errors';
import { MemoryWorkspace, nodeWorkspace, isCompleteFolder, subWorkspace, COMPLETE_MARKER, type Workspace } from '../../src/io/workspace';

const dir = mkdtempSync(path.join(tmpdir(), 'thinker-ws-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const enc = (s: string) => new TextEncoder().encode(s);

const hosts: [string, () => Workspace][] = [
  ['memory', () => new MemoryWorkspace('mem')],
  ['node', () => nodeWorkspace(mkdtempSync(path.join(dir, 'n-')))],
];

describe.each(hosts)('%s workspace', (_name, make) => {
  it('reads, writes, lists, appends and removes', async () => {
    const ws = make();
    expect(await ws.listDir('')).toEqual([]);
    expect(await ws.size('a/b.txt')).toBeNull();
    await ws.write('a/b.txt', enc('hello'));
    await ws.write('a/c/d.bin', new Uint8Array([1, 2, 3]));
    await ws.write('z.txt', enc('z'));
    expect(await ws.listDir('')).toEqual([
      { name: 'a', kind: 'dir' },
      { name: 'z.txt', kind: 'file' },
    ]);
    expect(await ws.listDir('a')).toEqual([
      { name: 'b.txt', kind: 'file' },
      { name: 'c', kind: 'dir' },
    ]);
    expect(await ws.listDir('nowhere')).toEqual([]);
    expect(await ws.list()).toEqual(['a/b.txt', 'a/c/d.bin', 'z.txt']);
    expect(await ws.size('a/c/d.bin')).toBe(3);
    expect(await ws.exists('a/b.txt')).toBe(true);
    expect(await ws.exists('a')).toBe(false);
    await ws.append('log/m.jsonl', '{"a":1}\n');
    await ws.append('log/m.jsonl', '{"a":2}\n');
    expect(text(await ws.read('log/m.jsonl'))).toBe('{"a":1}\n{"a":2}\n');
    await ws.write('a/b.txt', enc('again'));
    expect(text(await ws.read('a/b.txt'))).toBe('again');
    const sub = subWorkspace(ws, 'a');
    expect(await sub.list()).toEqual(['b.txt', 'c/d.bin']);
    await sub.write('new.txt', enc('n'));
    expect(await ws.exists('a/new.txt')).toBe(true);
    await ws.remove('a');
    await ws.remove('never/there');
    expect(await ws.list()).toEqual(['log/m.jsonl', 'z.txt']);
    await expect(ws.read('a/b.txt')).rejects.toThrow(/a\/b\.txt.*file not found/);
    await expect(ws.read('../etc/passwd')).rejects.toBeInstanceOf(InputError);
    await expect(ws.write('/abs', enc('x'))).rejects.toBeInstanceOf(InputError);
  });

  it('writes a folder whole: complete with its marker, replacing every old file', async () => {
    const ws = make();
    await ws.writeFolder('runs/r/checkpoint-2', { 'config.json': '{}', 'model.safetensors': new Uint8Array(10), 'old.txt': 'old' });
    expect(await isCompleteFolder(ws, 'runs/r/checkpoint-2')).toBe(true);
    await ws.writeFolder('runs/r/checkpoint-2', { 'config.json': '{"v":2}', 'sub/x.txt': 'x' });
    expect((await ws.listDir('runs/r/checkpoint-2')).map((e) => e.name)).toEqual([COMPLETE_MARKER, 'config.json', 'sub']);
    expect(text(await ws.read('runs/r/checkpoint-2/config.json'))).toBe('{"v":2}');
    expect(await isCompleteFolder(ws, 'runs/r')).toBe(false);
  });

  it('a folder write that fails part-way never leaves a complete-looking folder, nor any of its files', async () => {
    const ws = make();
    await ws.writeFolder('ck/good', { 'a.txt': 'a' });
    // The second file's path is invalid: the write fails after the first file.
    await expect(ws.writeFolder('ck/next', { 'a.txt': 'a', '../b.txt': 'b' })).rejects.toBeInstanceOf(InputError);
    expect(await isCompleteFolder(ws, 'ck/next')).toBe(false);
    // A half-written folder would hold storage (a checkpoint's weights) until something removed it.
    expect(await ws.listDir('ck/next')).toEqual([]);
    expect(await isCompleteFolder(ws, 'ck/good')).toBe(true);
    expect(text(await ws.read('ck/good/a.txt'))).toBe('a');
  });
});

describe('leftovers of interrupted writes', () => {
  it('node: temp files and folders of writes a killed process left are removed, nothing else', async () => {
    const root = mkdtempSync(path.join(dir, 'l-'));
    const ws = nodeWorkspace(root);
    await ws.writeFolder('run/checkpoint-1', { 'config.json': '{}' });
    await ws.write('run/metrics.jsonl', enc('{}\n'));
    // What a process killed inside writeFolder / write leaves: a temp folder, an old folder mid-swap, a temp file.
    mkdirSync(path.join(root, 'run', 'checkpoint-2.tmp-mb1x2y3-a1b2c3'), { recursive: true });
    writeFileSync(path.join(root, 'run', 'checkpoint-2.tmp-mb1x2y3-a1b2c3', 'model.safetensors'), 'half');
    mkdirSync(path.join(root, 'run', 'checkpoint-1.old-mb1x2y4-d4e5f6'));
    writeFileSync(path.join(root, 'run', 'run.json.tmp-mb1x2y5-0f9e8d'), '{"na');
    // A name that only looks alike is content.
    writeFileSync(path.join(root, 'run', 'notes.tmp-draft'), 'mine');
    expect((await ws.listDir('run')).map((e) => e.name)).toEqual(['checkpoint-1', 'metrics.jsonl', 'notes.tmp-draft']);
    expect(await ws.removeLeftovers('run')).toEqual(['checkpoint-1.old-mb1x2y4-d4e5f6', 'checkpoint-2.tmp-mb1x2y3-a1b2c3', 'run.json.tmp-mb1x2y5-0f9e8d']);
    expect(readdirSync(path.join(root, 'run')).sort()).toEqual(['checkpoint-1', 'metrics.jsonl', 'notes.tmp-draft']);
    expect(await ws.removeLeftovers('nowhere')).toEqual([]);
    expect(await subWorkspace(ws, 'run').removeLeftovers('')).toEqual([]);
  });

  it('memory: its writes leave nothing behind', async () => {
    const ws = new MemoryWorkspace('mem');
    await ws.write('run/a.tmp-x1-y2', enc('content'));
    expect(await ws.removeLeftovers('run')).toEqual([]);
    expect(await ws.list()).toEqual(['run/a.tmp-x1-y2']);
  });
});

describe('node workspace', () => {
  it('replaces a folder by rename: the old version stays whole when the new one fails, and no temp folder is left', async () => {
    const root = mkdtempSync(path.join(dir, 'r-'));
    const ws = nodeWorkspace(root);
    await ws.writeFolder('m', { 'config.json': '{"v":1}' });
    await expect(ws.writeFolder('m', { 'config.json': '{"v":2}', '../../x': 'x' })).rejects.toBeInstanceOf(InputError);
    expect(text(await ws.read('m/config.json'))).toBe('{"v":1}');
    expect(await isCompleteFolder(ws, 'm')).toBe(true);
    expect(readdirSync(root)).toEqual(['m']);
  });
});
