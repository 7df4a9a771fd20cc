// The global setup (__tests__/helpers/hermetic-env.ts) gives each test file its own home and no proxy.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const PROXY = /^(http_proxy|https_proxy|no_proxy|all_proxy)=/im;

describe('hermetic test environment', () => {
  it('HOME, DOCKER_CONFIG and the XDG dirs are a fresh directory under the temp dir, not the user home', () => {
    const home = process.env.HOME as string;
    expect(home.startsWith(join(tmpdir(), 'test-home-'))).toBe(true);
    expect(home).not.toBe(userInfo().homedir);
    expect(homedir()).toBe(home);
    for (const name of ['DOCKER_CONFIG', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_STATE_HOME', 'XDG_CACHE_HOME', 'XDG_RUNTIME_DIR']) {
      const dir = process.env[name] as string;
      expect(dir.startsWith(`${home}/`), name).toBe(true);
      expect(existsSync(dir), name).toBe(true);
    }
    expect(existsSync(join(process.env.DOCKER_CONFIG as string, 'config.json'))).toBe(false);
  });

  it('no proxy variable in either case reaches the tests or what they spawn', () => {
    expect(Object.keys(process.env).filter((k) => /^(http|https|no|all)_proxy$/i.test(k))).toEqual([]);
    const childEnv = execFileSync('env', { encoding: 'utf8' });
    expect(childEnv).not.toMatch(PROXY);
    expect(childEnv).toContain(`HOME=${process.env.HOME}\n`);
  });
});
