export const id = 154;
export const ids = [154];
export const modules = {

/***/ 8154:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  cacheKeyFor: () => (/* binding */ cacheKeyFor),
  resolvePath: () => (/* binding */ resolvePath),
  runBuildStep: () => (/* binding */ runBuildStep)
});

// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __webpack_require__(1455);
// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __webpack_require__(8161);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
// EXTERNAL MODULE: ./node_modules/@actions/exec/lib/exec.js + 5 modules
var exec = __webpack_require__(2876);
// EXTERNAL MODULE: external "node:child_process"
var external_node_child_process_ = __webpack_require__(1421);
// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(3024);
// EXTERNAL MODULE: external "node:readline"
var external_node_readline_ = __webpack_require__(481);
// EXTERNAL MODULE: external "node:url"
var external_node_url_ = __webpack_require__(3136);
// EXTERNAL MODULE: ./src/json.ts
var json = __webpack_require__(8301);
// EXTERNAL MODULE: ./src/log-text.ts
var log_text = __webpack_require__(3529);
;// CONCATENATED MODULE: ./src/build-cache.ts
// The GitHub cache (@actions/cache) as the build step's CacheModule, each call run in ./cache-worker.ts.
//
// Why a process of its own: the client cannot be cancelled, and some of its waits have no bound (the
// Azure SDK upload and the blob-properties request before a download have no client-side timeout). A
// worker can be stopped at the deadline (`cache-timeout`) with everything it started, including tar, so
// a stalled cache never holds the job and never extracts into the workspace while the build runs.
//
// Why its log is read: the client never throws for a failed restore or save. It logs the failure itself,
// often twice (the Azure upload and the save each warn) and sometimes as an error annotation (a 5xx while
// downloading), and returns "no match" or -1. The build cache is best effort, so the run gets one
// warning that says what happened: the worker's `::warning::` and `::error::` lines are held back and
// the first one becomes the call's error; every other line (progress, `::add-mask::` of the signed
// URLs, `::debug::`) goes to stdout, made printable unless it is one of those two (see passThrough).
//
// The client's own bounds still apply inside the deadline: each cache-service call makes at most
// 5 attempts (about 30 s in all); a download segment gives up after SEGMENT_DOWNLOAD_TIMEOUT_MINS
// (10 by default); the Azure SDK retries a failing storage request 4 times.







function stringList(value) {
    if (!Array.isArray(value))
        return undefined;
    const list = value;
    return list.every((v) => typeof v === 'string') ? list : undefined;
}
/** The request the worker was given on its command line; throws when it is not one. */
function parseCacheRequest(text) {
    const o = asObject(parseJson(text));
    const op = stringField(o, 'op');
    const paths = stringList(o?.paths);
    const key = stringField(o, 'key');
    const restoreKeys = stringList(o?.restoreKeys);
    if (op === 'available')
        return { op };
    if (op === 'save' && paths && key !== undefined)
        return { op, paths, key };
    if (op === 'restore' && paths && key !== undefined && restoreKeys)
        return { op, paths, key, restoreKeys };
    throw new Error(`the cache worker was given no valid request: ${text.slice(0, 200)}`);
}
function isCacheValue(v) {
    return v === null || typeof v === 'boolean' || typeof v === 'string' || typeof v === 'number';
}
/** The worker's answer; anything else is an error answer. */
function parseCacheAnswer(text) {
    let o;
    try {
        o = (0,json/* asObject */.eB)((0,json/* parseJson */.qF)(text));
    }
    catch {
        o = undefined;
    }
    const value = o?.value;
    const error = (0,json/* stringField */.OM)(o, 'error');
    if (error !== undefined)
        return { error };
    if (isCacheValue(value))
        return { value };
    return { error: 'the cache worker answered something that is not a cache answer' };
}
const PROBLEM = /^::(?:warning|error)(?: [^:]*)?::(.*)$/;
/** The message of a command @actions/core wrote, unescaped, without the Azure SDK's request-id lines. */
function commandText(escaped) {
    const text = escaped.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
    return text
        .split(/\r?\n/)
        .filter((line) => !/^(RequestId|Time):/.test(line))
        .join(' ')
        .replace(/^Failed to (?:restore|save): /, '')
        .replace(/^uploadCacheArchiveSDK: internal error uploading cache archive: /, 'uploading the cache archive failed: ')
        .trim();
}
/**
 * A worker line for the runner: the client's own `::add-mask::` and `::debug::` commands as they are,
 * any other line made printable (server text split over lines must not start a workflow command).
 */
function passThrough(line) {
    return /^::(add-mask|debug)::/.test(line) ? line : (0,log_text/* printable */.g)(line);
}
/**
 * dist/cache-worker/index.js: next to the bundle that runs this code (dist/index.js or a chunk of it),
 * or, when src/ runs directly (@github/local-action), in the dist/ beside it.
 */
function workerScript() {
    const here = (0,external_node_path_.dirname)((0,external_node_url_.fileURLToPath)(import.meta.url));
    const candidates = [(0,external_node_path_.join)(here, 'cache-worker', 'index.js'), (0,external_node_path_.join)(here, '..', 'dist', 'cache-worker', 'index.js')];
    return candidates.find((path) => (0,external_node_fs_.existsSync)(path)) ?? candidates[0];
}
/** Starts a worker; `stop` kills it with everything it started. */
function spawnWorker(script, request) {
    // Its own process group (on POSIX), so that stopping it stops tar and whatever else the client started.
    const group = process.platform !== 'win32';
    const child = (0,external_node_child_process_.spawn)(process.execPath, [script, JSON.stringify(request)], {
        stdio: ['ignore', 'pipe', 'inherit', 'pipe'],
        detached: group,
    });
    const stop = () => {
        if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null)
            return;
        try {
            if (group)
                process.kill(-child.pid, 'SIGKILL');
            else
                child.kill('SIGKILL');
        }
        catch {
            // Already gone.
        }
    };
    return { child, stop };
}
/** Runs one request in a worker; resolves with its answer, or an error saying what failed or stopped it. */
function runWorker(request, { timeoutMs, signal, script = workerScript() }) {
    if (!(0,external_node_fs_.existsSync)(script))
        return Promise.resolve({ error: `the cache worker ${script} is missing; run npm run build` });
    if (signal?.aborted)
        return Promise.resolve({ error: 'cancelled' });
    return new Promise((resolve) => {
        const { child, stop } = spawnWorker(script, request);
        let stopped;
        const stopFor = (reason) => () => {
            stopped ??= reason;
            stop();
        };
        const timer = setTimeout(stopFor(`not finished after ${timeoutMs / 1000} s (cache-timeout), so stopped`), timeoutMs);
        const onAbort = stopFor('cancelled');
        signal?.addEventListener('abort', onAbort);
        process.once('exit', stop);
        const problems = [];
        (0,external_node_readline_.createInterface)({ input: child.stdout }).on('line', (line) => {
            const match = PROBLEM.exec(line);
            if (match)
                problems.push(commandText(match[1]));
            else
                process.stdout.write(`${passThrough(line)}\n`);
        });
        let answer = '';
        child.stdio[3].on('data', (d) => (answer += d.toString()));
        child.on('error', (err) => problems.push(`the cache worker did not start: ${err.message}`));
        child.on('close', () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            process.off('exit', stop);
            const error = stopped ?? problems[0] ?? (answer ? undefined : 'the cache worker ended without an answer');
            resolve(error !== undefined ? { error } : parseCacheAnswer(answer));
        });
    });
}
async function call(request, options) {
    const answer = await runWorker(request, options);
    if ('error' in answer)
        throw new Error(answer.error);
    return answer.value;
}
/** The GitHub cache, each call stopped after `timeoutMs` or when `signal` aborts. */
function githubCache(timeoutMs, signal) {
    const options = { timeoutMs, signal };
    return {
        isFeatureAvailable: async () => (await call({ op: 'available' }, options)) === true,
        restoreCache: async (paths, key, restoreKeys = []) => {
            const value = await call({ op: 'restore', paths, key, restoreKeys }, options);
            return typeof value === 'string' ? value : undefined;
        },
        saveCache: async (paths, key) => Number(await call({ op: 'save', paths, key }, options)),
    };
}

// EXTERNAL MODULE: ./src/errors.ts
var errors = __webpack_require__(3916);
;// CONCATENATED MODULE: ./src/build-step.ts
// The optional build before packaging: restore a cache, run `build-command`, save the cache.
// @actions/cache runs in a worker process (./build-cache.ts), so runs without a cache never load it.







/** Resolves `~/` and relative paths against the working directory. */
function resolvePath(path, workingDirectory) {
    if (path === '~' || path.startsWith('~/'))
        return (0,external_node_path_.join)((0,external_node_os_.homedir)(), path.slice(1));
    return (0,external_node_path_.isAbsolute)(path) ? path : (0,external_node_path_.resolve)(workingDirectory, path);
}
/** `<cache-key>-<os>-<sha256 of the key files>`: a lock file change starts a new cache. */
async function cacheKeyFor(opts, platform = process.platform) {
    const hash = (0,external_node_crypto_.createHash)('sha256');
    for (const file of opts.cacheKeyFiles) {
        const path = resolvePath(file, opts.workingDirectory);
        try {
            hash
                .update(file)
                .update('\0')
                .update(await (0,promises_.readFile)(path))
                .update('\0');
        }
        catch {
            throw new errors/* InputError */.d('cache-key-files', `${file} (${path}) cannot be read; list files that exist after checkout, such as Cargo.lock`);
        }
    }
    const prefix = `${opts.cacheKey || 'wasm-image-build'}-${platform}-`;
    return { key: `${prefix}${hash.digest('hex').slice(0, 32)}`, prefix };
}
function shellFor(command) {
    return process.platform === 'win32' ? ['cmd.exe', ['/d', '/s', '/c', command]] : ['bash', ['-eo', 'pipefail', '-c', command]];
}
/** Restores the newest entry for the key, or failing that for its prefix; the cache to save to, if any. */
async function restoreStep(opts, paths, host, loadCache) {
    if (paths.length === 0)
        return { cacheHit: false };
    const key = await cacheKeyFor(opts);
    const cache = loadCache(opts);
    const available = await cache.isFeatureAvailable().catch((err) => err);
    if (available !== true) {
        const why = available instanceof Error
            ? `the cache client failed: ${available.message}`
            : 'the GitHub cache service is not available here (outside GitHub Actions?)';
        host.warning(`${why}; building without cache-paths`, 'Build cache');
        return { cacheHit: false };
    }
    try {
        const restored = await cache.restoreCache(paths, key.key, [key.prefix]);
        const cacheHit = restored === key.key;
        host.info(restored ? `cache restored from ${restored}${cacheHit ? '' : ' (prefix match)'}` : `no cache for ${key.key} or ${key.prefix}*`);
        return { cache, key, cacheHit };
    }
    catch (err) {
        // A service that failed the lookup would fail the save too, after as long a wait.
        host.warning(`restoring the build cache failed: ${err.message}; building without it, and not saving it`, 'Build cache');
        return { cacheHit: false };
    }
}
async function saveStep(cache, paths, key, host) {
    try {
        const id = await cache.saveCache(paths, key);
        // -1 without an error: another job reserved the key first, or cache writes are off (ACTIONS_CACHE_MODE).
        host.info(id === -1 ? `cache not saved as ${key} (see above)` : `cache saved as ${key}`);
    }
    catch (err) {
        host.warning(`saving the build cache failed: ${err.message}`, 'Build cache');
    }
}
async function runBuildStep(opts, host, context = {}) {
    const loadCache = context.loadCache ?? ((o) => githubCache(o.cacheTimeoutMs, context.signal));
    const paths = opts.cachePaths.map((p) => resolvePath(p, opts.workingDirectory));
    const { cache, key, cacheHit } = await restoreStep(opts, paths, host, loadCache);
    const started = Date.now();
    const [shell, args] = shellFor(opts.command);
    const code = await (0,exec/* exec */.m)(shell, args, { cwd: opts.workingDirectory, ignoreReturnCode: true });
    if (code !== 0)
        throw new errors/* InputError */.d('build-command', `exited with code ${code}; see the build output above`);
    host.info(`build finished in ${Date.now() - started} ms`);
    if (cache && key && !cacheHit)
        await saveStep(cache, paths, key.key, host);
    return { cacheHit };
}


/***/ })

};
