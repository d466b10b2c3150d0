// The storage every host shares: the same behaviour from memory and from a Node folder (the
// browser's OPFS implementation runs in the e2e tests), and folder writes that are never torn.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
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
    expect(await ws.listDir('')).toEqual([{ name: 'a', kind: 'dir' }, { name: 'z.txt', kind: 'file' }]);
    expect(await ws.listDir('a')).toEqual([{ name: 'b.txt', kind: 'file' }, { name: 'c', kind: 'dir' }]);
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

  it('a folder write that fails part-way never leaves a complete-looking folder', async () => {
    const ws = make();
    await ws.writeFolder('ck/good', { 'a.txt': 'a' });
    // The second file's path is invalid: the write fails after the first file.
    await expect(ws.writeFolder('ck/next', { 'a.txt': 'a', '../b.txt': 'b' })).rejects.toBeInstanceOf(InputError);
    expect(await isCompleteFolder(ws, 'ck/next')).toBe(false);
    expect(await isCompleteFolder(ws, 'ck/good')).toBe(true);
    expect(text(await ws.read('ck/good/a.txt'))).toBe('a');
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
