// compat images in the image tools users pull, save, mirror and unpack them with: a private Docker Engine,
// podman and umoci (Debian's docker.io, podman, umoci), against the real registry. The default platform
// (linux/amd64) must work everywhere; wasip1/wasm is refused by Docker Engine and umoci, as the README says.
import { execFile as execFileCb, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cleanEnv, FIXTURE_MODULE, runAction, runNode } from '../helpers/action.js';
import { dockerdUnavailable, startDockerd, type DockerdFixture } from '../helpers/dockerd.js';
import { startRegistry, type RegistryFixture } from '../helpers/registry.js';

const execFile = promisify(execFileCb);
const MODULE = readFileSync(FIXTURE_MODULE);
// Image tools compare an image's architecture with the host's; the default suits amd64 hosts, so on another
// host the "works everywhere" images say that host's architecture.
const HOST_ARCH = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
const HOST_PLATFORM: Record<string, string> = HOST_ARCH === 'amd64' ? {} : { platform: `linux/${HOST_ARCH}` };

const OTHER_ARCH = HOST_ARCH === 'amd64' ? 'arm64' : 'amd64';

type Name = 'oci' | 'docker' | 'wasi' | 'other';
const IMAGES: Record<Name, Record<string, string>> = {
  oci: HOST_PLATFORM,
  docker: { ...HOST_PLATFORM, 'media-types': 'docker' },
  wasi: { platform: 'wasip1/wasm' },
  other: { platform: `linux/${OTHER_ARCH}` },
};

let dir: string;
let registry: RegistryFixture;
const pushed = {} as Record<Name, { ref: string; digest: string; layout: string }>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'image-tools-'));
  registry = await startRegistry();
  const env = { HOME: dir, DOCKER_CONFIG: join(dir, 'docker-config') };
  for (const [name, inputs] of Object.entries(IMAGES) as Array<[Name, Record<string, string>]>) {
    const ref = `${registry.host}/acme/filter:${name}`;
    const layout = join(dir, `layout-${name}`);
    const run = await runAction({ wasm: FIXTURE_MODULE, tags: ref, 'oci-layout': layout, ...inputs }, { env });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    pushed[name] = { ref, digest: run.outputs.digest, layout };
  }
  // The CLI's --platform writes the same image as the input: same digest.
  const cli = await runNode([CLI, 'build', '--wasm', FIXTURE_MODULE, '--tag', pushed.other.ref, '--platform', IMAGES.other.platform], {
    env: cleanEnv(env),
  });
  expect(cli.code, cli.stderr).toBe(0);
  expect((JSON.parse(cli.stdout) as { digest: string }).digest).toBe(pushed.other.digest);
}, 60_000);

afterAll(async () => {
  await registry?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const dockerUnavailable = dockerdUnavailable();
if (dockerUnavailable) console.warn(`skipping the Docker Engine tests: ${dockerUnavailable}`);

describe.skipIf(dockerUnavailable)('Docker Engine', () => {
  let dockerd: DockerdFixture;
  beforeAll(async () => {
    dockerd = await startDockerd({ insecureRegistries: [registry.host] });
  }, 60_000);
  afterAll(async () => dockerd?.stop(), 30_000);

  // First, while no layer is in the daemon's store: the refusal comes from the config, not the layer.
  it('refuses to pull platform wasip1/wasm ("operating system is not supported")', async () => {
    const pull = await dockerd.docker(['pull', pushed.wasi.ref]);
    expect(pull.code).not.toBe(0);
    expect(pull.stderr).toMatch(/operating system is not supported/);
  });

  it.each(['oci', 'docker'] as const)('pulls and saves the %s-media-types compat image; the saved layer holds the module', async (name) => {
    const { ref, digest } = pushed[name];
    const pull = await dockerd.docker(['pull', ref]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout).toContain(`Digest: ${digest}`);
    const inspect = await dockerd.docker(['image', 'inspect', '--format', '{{.Os}}/{{.Architecture}} {{json .RepoDigests}}', ref]);
    expect(inspect.stdout.trim()).toBe(`linux/${HOST_ARCH} ${JSON.stringify([`${ref.split(':').slice(0, 2).join(':')}@${digest}`])}`);

    const saved = join(dir, `saved-${name}`);
    mkdirSync(saved);
    const save = await dockerd.docker(['save', '-o', join(saved, 'image.tar'), ref]);
    expect(save.code, save.stderr).toBe(0);
    execFileSync('tar', ['-xf', join(saved, 'image.tar'), '-C', saved]);
    const [entry] = JSON.parse(readFileSync(join(saved, 'manifest.json'), 'utf8')) as Array<{ RepoTags: string[]; Layers: string[] }>;
    expect(entry?.RepoTags).toEqual([ref]);
    const layer = join(saved, entry?.Layers.at(-1) as string);
    const plugin = execFileSync('tar', ['-xOf', layer, 'plugin.wasm'], { maxBuffer: 64 << 20 });
    expect(Buffer.compare(plugin, MODULE)).toBe(0);
  });

  it("pulls a linux image of another architecture (a single manifest's architecture is not checked)", async () => {
    const pull = await dockerd.docker(['pull', pushed.other.ref]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout + pull.stderr).not.toMatch(/warn|platform/i);
    const inspect = await dockerd.docker(['image', 'inspect', '--format', '{{.Os}}/{{.Architecture}}', pushed.other.ref]);
    expect(inspect.stdout.trim()).toBe(`linux/${OTHER_ARCH}`);
  });
});

describe('umoci', () => {
  it('unpacks the compat layout into a runtime bundle holding the module', () => {
    const bundle = join(dir, 'bundle-oci');
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${pushed.oci.layout}:oci`, bundle], { stdio: 'pipe' });
    expect(Buffer.compare(readFileSync(join(bundle, 'rootfs', 'plugin.wasm')), MODULE)).toBe(0);
    expect(JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'))).toHaveProperty('ociVersion');
  });

  it('refuses to unpack platform wasip1/wasm ("unsupported OS")', () => {
    let stderr = '';
    try {
      execFileSync('umoci', ['unpack', '--rootless', '--image', `${pushed.wasi.layout}:wasi`, join(dir, 'bundle-wasi')], { stdio: 'pipe' });
    } catch (err) {
      stderr = String((err as { stderr?: Buffer }).stderr);
    }
    expect(stderr).toMatch(/unsupported OS: wasip1/);
  });
});

const podmanUnavailable = process.getuid?.() !== 0 ? 'podman with its own --root needs root here' : undefined;
if (podmanUnavailable) console.warn(`skipping the podman tests: ${podmanUnavailable}`);

describe.skipIf(podmanUnavailable)('podman', () => {
  let home: string;
  beforeAll(() => {
    home = join(dir, 'podman');
    mkdirSync(join(home, 'xdg'), { recursive: true, mode: 0o700 });
    writeFileSync(join(home, 'registries.conf'), 'unqualified-search-registries = []\n');
    writeFileSync(join(home, 'policy.json'), '{"default":[{"type":"insecureAcceptAnything"}]}\n');
    writeFileSync(join(home, 'storage.conf'), `[storage]\ndriver = "vfs"\nrunroot = "${home}/run"\ngraphroot = "${home}/root"\n`);
    writeFileSync(join(home, 'containers.conf'), '[engine]\nevents_logger = "none"\ncgroup_manager = "cgroupfs"\n');
  });

  /** podman with nothing from the machine: own storage, registries.conf, policy and containers.conf. */
  async function podman(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const env = {
      PATH: process.env.PATH,
      HOME: home,
      XDG_RUNTIME_DIR: join(home, 'xdg'),
      CONTAINERS_REGISTRIES_CONF: join(home, 'registries.conf'),
      CONTAINERS_STORAGE_CONF: join(home, 'storage.conf'),
      CONTAINERS_CONF: join(home, 'containers.conf'),
    };
    const global = ['--root', join(home, 'root'), '--runroot', join(home, 'run'), '--storage-driver', 'vfs'];
    try {
      const { stdout, stderr } = await execFile('podman', [...global, ...args], { env, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
    }
  }
  const pull = (ref: string) => podman(['pull', '--tls-verify=false', '--signature-policy', join(home, 'policy.json'), ref]);

  it.each(['oci', 'docker'] as const)('pulls the %s-media-types compat image without a warning', async (name) => {
    const { ref } = pushed[name];
    const result = await pull(ref);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/warn/i);
    const inspect = await podman(['image', 'inspect', '--format', '{{.Os}}/{{.Architecture}}', ref]);
    expect(inspect.stdout.trim()).toBe(`linux/${HOST_ARCH}`);
  });

  it.each([
    ['wasip1/wasm', 'wasi', 'wasm wasip1'],
    [`linux/${OTHER_ARCH}`, 'other', `${OTHER_ARCH} linux`],
  ] as const)("warns on every pull of platform %s, which is not the host's", async (_platform, name, shown) => {
    const result = await pull(pushed[name].ref);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`image platform ({${shown} `);
    expect(result.stderr).toMatch(/does not match the expected platform/);
  });
});
