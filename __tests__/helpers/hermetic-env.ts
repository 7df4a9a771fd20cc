// Vitest setup file, run in each test worker before each test file: the file gets its own HOME, DOCKER_CONFIG
// and XDG directories, and no proxy variables, so nothing it runs in-process or spawns (skopeo, podman, the
// docker CLI, the action) reads the developer's ~/.docker, containers auth or proxy settings. A test may still
// set any of them itself. Everything is put back and the directory removed after the file.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** Both spellings of each: tools read the lower-case ones first, some only the upper-case. */
const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY'].flatMap((n) => [n, n.toLowerCase()]);
/** Variables that point a tool at a developer's credentials or daemon. */
const FOREIGN_VARIABLES = ['REGISTRY_AUTH_FILE', 'DOCKER_HOST', 'DOCKER_CONTEXT', 'CONTAINERS_CONF', 'CONTAINERS_REGISTRIES_CONF'];

const home = mkdtempSync(join(tmpdir(), 'test-home-'));
const owned: Record<string, string> = {
  HOME: home,
  DOCKER_CONFIG: join(home, '.docker'),
  XDG_CONFIG_HOME: join(home, '.config'),
  XDG_DATA_HOME: join(home, '.local', 'share'),
  XDG_STATE_HOME: join(home, '.local', 'state'),
  XDG_CACHE_HOME: join(home, '.cache'),
  XDG_RUNTIME_DIR: join(home, 'run'),
};

const saved = new Map<string, string | undefined>();
for (const name of [...Object.keys(owned), ...PROXY_VARIABLES, ...FOREIGN_VARIABLES]) saved.set(name, process.env[name]);
for (const [name, dir] of Object.entries(owned)) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env[name] = dir;
}
for (const name of [...PROXY_VARIABLES, ...FOREIGN_VARIABLES]) delete process.env[name];

afterAll(() => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  rmSync(home, { recursive: true, force: true });
});
