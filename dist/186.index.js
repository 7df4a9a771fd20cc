export const id = 186;
export const ids = [186];
export const modules = {

/***/ 8186:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   createProxyAgent: () => (/* binding */ createProxyAgent)
/* harmony export */ });
/* harmony import */ var http_proxy_agent__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(8947);
/* harmony import */ var https_proxy_agent__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(1566);


const TUNNEL_OPTIONS = { keepAlive: true, maxSockets: 16 };
// A forwarding proxy may close the client connection after each answer without saying so (tinyproxy
// does): reusing it would fail the next request, so forwarded requests ask for `Connection: close`.
const FORWARD_OPTIONS = { keepAlive: false, maxSockets: 16 };
/**
 * Bounds how long reaching the proxy may take (TCP connect, and for a tunnel the CONNECT answer): until
 * then the request has no socket, so its own inactivity timeout cannot fire, and a proxy that accepts but
 * never answers would hold the run forever. The agents open their socket synchronously inside
 * `connect`, so a per-call abort signal is lent to it through `connectOpts`.
 */
async function withDeadline(agent, timeoutMs, proxy, connect) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    const shared = agent.connectOpts;
    agent.connectOpts = { ...shared, signal: abort.signal };
    let pending;
    try {
        pending = connect();
    }
    finally {
        agent.connectOpts = shared;
    }
    try {
        return await pending;
    }
    catch (err) {
        if (!abort.signal.aborted)
            throw err;
        throw Object.assign(new Error(`the proxy ${proxy} did not answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
    }
    finally {
        clearTimeout(timer);
    }
}
class TunnelAgent extends https_proxy_agent__WEBPACK_IMPORTED_MODULE_1__/* .HttpsProxyAgent */ .b {
    timeoutMs;
    shown;
    constructor(proxy, timeoutMs, shown) {
        super(proxy, TUNNEL_OPTIONS);
        this.timeoutMs = timeoutMs;
        this.shown = shown;
    }
    connect(...args) {
        return withDeadline(this, this.timeoutMs, this.shown, () => super.connect(...args));
    }
}
class ForwardAgent extends http_proxy_agent__WEBPACK_IMPORTED_MODULE_0__/* .HttpProxyAgent */ .s {
    timeoutMs;
    shown;
    constructor(proxy, timeoutMs, shown) {
        super(proxy, FORWARD_OPTIONS);
        this.timeoutMs = timeoutMs;
        this.shown = shown;
    }
    connect(...args) {
        return withDeadline(this, this.timeoutMs, this.shown, () => super.connect(...args));
    }
}
/** A tunnel (https) or forwarding (http) agent through `proxy`, reaching it within `timeoutMs`; `shown` names it in errors. */
function createProxyAgent(secure, proxy, timeoutMs, shown) {
    return secure ? new TunnelAgent(proxy, timeoutMs, shown) : new ForwardAgent(proxy, timeoutMs, shown);
}


/***/ })

};
