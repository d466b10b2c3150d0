// The scripts behind `npm test`, run by bash against stand-in commands on PATH: the host setup
// waits for an apt lock another process holds (and gives up, saying so, after its limit), and the
// suite runs every stage even after one fails, ending with a table of the stages and their counts.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'thinker-scripts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function stub(bin: string, name: string, body: string) {
  mkdirSync(bin, { recursive: true });
  writeFileSync(path.join(bin, name), `#!/usr/bin/env bash\n${body}\n`);
  chmodSync(path.join(bin, name), 0o755);
}

function run(script: string, env: Record<string, string>, cwd = root) {
  const r = spawnSync('bash', [script], { cwd, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('ensure-webgpu-host.sh', () => {
  const bin = path.join(dir, 'host-bin');
  const log = path.join(dir, 'apt.log');
  beforeAll(() => {
    // The loader looks missing, apt-get runs as root, and its answers come from APT_MODE.
    stub(bin, 'ldconfig', 'exit 0');
    stub(bin, 'id', 'echo 0');
    stub(
      bin,
      'apt-get',
      `
echo "$*" >> "${log}"
n=$(grep -c update "${log}")
if [[ "$*" == *update* ]]; then
  case "$APT_MODE" in
    lock-twice) if [ "$n" -le 2 ]; then echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)" >&2; exit 100; fi ;;
    lock-forever) echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)" >&2; exit 100 ;;
    broken) echo "E: The repository does not have a Release file." >&2; exit 100 ;;
  esac
fi
exit 0`,
    );
  });
  const host = (mode: string, wait = '30') => {
    writeFileSync(log, '');
    return run(path.join(root, 'scripts/ensure-webgpu-host.sh'), {
      PATH: `${bin}:${process.env.PATH}`,
      APT_MODE: mode,
      APT_LOCK_WAIT: wait,
      APT_LOCK_POLL: '0.1',
    });
  };
  const calls = () => readFileSync(log, 'utf8').trim().split('\n');

  it('waits for a lock another apt holds, saying so, then installs with dpkg told to wait too', () => {
    const r = host('lock-twice');
    expect(r.code, r.err).toBe(0);
    expect(r.out.match(/another process holds the apt lock; waiting \(\d+s of 30s\)/g)).toHaveLength(2);
    const c = calls();
    expect(c.filter((l) => l.includes('update'))).toHaveLength(3);
    expect(c[c.length - 1]).toMatch(/^-o DPkg::Lock::Timeout=\d+ install -y -qq --no-install-recommends .*libvulkan1/);
    expect(r.out).toMatch(/installed .*libvulkan1/);
  });

  it('gives up after APT_LOCK_WAIT with the reason, and fails at once on any other apt error', () => {
    let r = host('lock-forever', '1');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/the apt lock was still held after 1s \(APT_LOCK_WAIT\)/);
    expect(calls().some((l) => l.includes('install'))).toBe(false);
    r = host('broken');
    expect(r.code).toBe(100);
    expect(r.err).toMatch(/does not have a Release file/);
    expect(r.out).not.toMatch(/waiting/);
    expect(calls()).toHaveLength(1);
  });
});

describe('test.sh', () => {
  const repo = path.join(dir, 'repo');
  const bin = path.join(dir, 'suite-bin');
  const log = path.join(dir, 'stages.log');
  beforeAll(() => {
    mkdirSync(path.join(repo, 'scripts'), { recursive: true });
    copyFileSync(path.join(root, 'scripts/test.sh'), path.join(repo, 'scripts/test.sh'));
    writeFileSync(path.join(repo, 'scripts/ensure-webgpu-host.sh'), `echo host >> "${log}"; exit \${HOST_EXIT:-0}\n`);
    // npx: tsc, biome and vite pass; the unit run fails 2 of 10, the browser run passes 3 of 3 (vitest's JSON report).
    stub(
      bin,
      'npx',
      `
echo "$1" >> "${log}"
for a in "$@"; do case "$a" in --outputFile.json=*) out="\${a#*=}" ;; esac; done
case "$1" in
  tsc|biome|vite) exit 0 ;;
  vitest)
    if [[ "$*" == *e2e* ]]; then echo '{"numTotalTests":3,"numPassedTests":3,"numFailedTests":0}' > "$out"; exit 0; fi
    echo '{"numTotalTests":10,"numPassedTests":8,"numFailedTests":2}' > "$out"; exit 1 ;;
esac`,
    );
  });
  const suite = (env: Record<string, string> = {}) => {
    writeFileSync(log, '');
    return run(path.join(repo, 'scripts/test.sh'), { PATH: `${bin}:${process.env.PATH}`, ...env }, repo);
  };

  it('runs every stage after a unit failure and ends with the table and a failing status', () => {
    const r = suite();
    expect(r.code).toBe(1);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(['host', 'tsc', 'biome', 'vitest', 'vite', 'vitest']);
    const table = r.out
      .slice(r.out.lastIndexOf('stage'))
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/));
    expect(table[0]).toEqual(['stage', 'tests', 'passed', 'failed', 'seconds', 'result']);
    const row = (name: string) => table.find((t) => t[0] === name)!;
    expect(row('host-setup').slice(1, 4)).toEqual(['-', '-', '-']);
    expect(row('typecheck')[5]).toBe('ok');
    expect(row('lint')[5]).toBe('ok');
    expect(row('unit').slice(1, 4)).toEqual(['10', '8', '2']);
    expect(row('unit').slice(5).join(' ')).toBe('FAILED (exit 1)');
    expect(row('build')[5]).toBe('ok');
    expect(row('e2e').slice(1, 6)).toEqual(['3', '3', '0', row('e2e')[4], 'ok']);
  });

  it('stops after a failed host setup: nothing else can run', () => {
    const r = suite({ HOST_EXIT: '1' });
    expect(r.code).toBe(1);
    expect(readFileSync(log, 'utf8').trim()).toBe('host');
    expect(r.err).toMatch(/host setup failed: nothing else can run without chromium and libvulkan/);
    expect(r.out).toMatch(/host-setup .*FAILED \(exit 1\)/);
  });
});
