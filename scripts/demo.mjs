#!/usr/bin/env node
// The main job, locally: builds the example module in the three variants (and the Docker flavour) into OCI
// layouts under out/ with the bundled CLI, and prints the digests. Nothing touches the network.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'bin', 'wasm-image.js');
const module = join(root, '__tests__', 'fixtures', 'modules', 'filter.wasm');
const out = join(root, 'out');
rmSync(out, { recursive: true, force: true });

const builds = [
  ['compat', ['--variant', 'compat']],
  ['oci', ['--variant', 'oci', '--abi-version', 'v0-4689a30309abf31aee9ae36e73d34b1bb182685f']],
  ['compat-docker', ['--variant', 'compat', '--media-types', 'docker']],
  ['wasm', ['--variant', 'wasm']],
];
for (const [name, flags] of builds) {
  const layout = join(out, name);
  const json = execFileSync(
    process.execPath,
    [cli, 'build', '--wasm', module, '--tag', `localhost:5000/demo/filter:${name}`, '--oci-layout', layout, ...flags],
    {
      // Progress goes to stderr; shown only if the build fails (execFileSync then throws with it).
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const outputs = JSON.parse(json.toString());
  console.log(`${name.padEnd(14)} ${outputs.digest}  ${layout}`);
}
console.log(`\nInspect one with: skopeo inspect --raw oci:${join(out, 'oci')}:oci`);
