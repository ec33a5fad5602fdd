// chainnode console: a hash-routed single page over the node's HTTP API (relative URLs only,
// so it works behind a TLS proxy or a path prefix). No build step, no third-party code.
const V = window.ChainnodeVerify;
const main = document.getElementById("main");
const liveEl = document.getElementById("live");

const WINDOW_MS = 5 * 60 * 1000; // the throughput and block-time charts cover the last 5 minutes
const MAX_BLOCKS = 50;

const store = {
  status: null,
  validators: null,
  suite: null, // "sm" or "ecdsa-p256", learnt from a transaction hash
  blocks: [], // newest first, from the event stream
  series: [], // {height, timestamp, txs} of the last WINDOW_MS of blocks
  lastHeight: 0,
  listeners: new Set(),
};

// ------------------------------------------------------------------------------- helpers

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== false && v !== null && v !== undefined) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

const short = (h, n = 12) => (h && h.length > n + 2 ? h.slice(0, n) + "…" : h || "");
const link = (href, text, cls) => el("a", { href, class: cls }, text);
const hashLink = (kind, h, n) => link(`#/${kind}/${h}`, short(h, n), "hash");
const fmtTime = (ms) => new Date(ms).toISOString().replace("T", " ").replace("Z", " UTC");
const json = (v) => JSON.stringify(v, null, 1);

class ApiError extends Error {
  constructor(message, status, hint) {
    super(message);
    this.status = status;
    this.hint = hint;
  }
}

/** GET/POST a JSON endpoint; failures become ApiErrors that say what to do. */
async function api(path, init) {
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError("Cannot reach the node.", 0,
      "Check that the node is running and reachable from this browser, then reload the page.");
  }
  const text = await resp.text();
  let data = null;
  try {
    data = JSON.parse(text);
  } catch (e) {
    data = null;
  }
  if (!resp.ok) {
    const err = data && data.error ? data.error : null;
    const msg = err ? `${err.message}${err.code ? ` (${err.code})` : ""}` : `HTTP ${resp.status}`;
    const hint = resp.status === 404 ? "Check what you asked for; it may not be committed yet."
      : resp.status === 503 ? "The node is starting, syncing or busy: retry in a few seconds."
      : resp.status >= 500 ? "The node failed to answer: look at its log."
      : resp.status === 429 ? "Too many requests: wait a moment and retry."
      : "Correct the input and retry.";
    throw new ApiError(msg, resp.status, hint);
  }
  if (data === null) throw new ApiError("The node's answer is not JSON.", resp.status, "Is this a chainnode node?");
  return data;
}

function errorBox(e, what) {
  const box = el("div", { class: "error", role: "alert" },
    el("strong", {}, `${what}: `), e.message || String(e), " ", e.hint || "");
  return box;
}

function card(title, ...children) {
  return el("section", { class: "card" }, title ? el("h2", {}, title) : null, ...children);
}

function kv(pairs) {
  return el("dl", { class: "kv" }, pairs.filter(Boolean).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

const bare = (h) => (h || "").toLowerCase().replace(/^0x/, "");
/** An address in its one form, as the API shows it: 0x + 40 lower-case hex digits. */
const addr0x = (h) => "0x" + bare(h);

/** A validator's node id from its public key or address (either form), else the short hex. */
function nodeName(key) {
  const vs = (store.validators && store.validators.validators) || [];
  const k = bare(key);
  const v = vs.find((x) => bare(x.public_key) === k || bare(x.address) === k);
  return v ? v.node_id : short(key, 16);
}

function addressOf(pubHex) {
  const suite = V.SUITES[store.suite || "sm"];
  return V.hex(V.address(suite, V.unhex(bare(pubHex))));
}

/** A tx's sender address (0x form): the API gives it; older nodes gave the public key. */
const senderOf = (tx) => addr0x(tx.sender_public_key ? tx.sender : addressOf(tx.sender));

/** The chain's suite from a transaction: its hash is the suite's hash of its payload. */
function learnSuite(tx) {
  if (store.suite) return;
  const contract = /^0x[0-9a-f]{40}$/.test(tx.contract) ? bare(tx.contract) : tx.contract;
  const payload = V.pack([
    new TextEncoder().encode(tx.chain_id), V.unhex(bare(tx.sender_public_key || tx.sender)), BigInt(tx.nonce),
    BigInt(tx.block_limit), new TextEncoder().encode(contract), new TextEncoder().encode(tx.method),
    V.unhex(bare(tx.args)), BigInt(tx.gas_limit),
  ]);
  for (const [name, suite] of Object.entries(V.SUITES)) {
    if (V.hex(suite.hash(payload)) === tx.hash) store.suite = name;
  }
}

// --------------------------------------------------------------------------- live data

async function refreshStatus() {
  const [status, validators] = await Promise.all([api("v1/status"), api("v1/validators")]);
  store.status = status;
  store.validators = validators;
  return status;
}

let source = null;

function onBlock(b) {
  if (b.height <= store.lastHeight) return;
  store.lastHeight = b.height;
  store.blocks.unshift(b);
  if (store.blocks.length > MAX_BLOCKS) store.blocks.length = MAX_BLOCKS;
  store.series.push({ height: b.height, timestamp: b.timestamp, txs: b.tx_count });
  const cut = b.timestamp - WINDOW_MS;
  while (store.series.length && store.series[0].timestamp < cut) store.series.shift();
  if (store.status && b.height > store.status.height) {
    store.status.height = b.height;
    store.status.head_hash = b.hash;
  }
  for (const f of store.listeners) f(b);
}

/** One event stream for the whole page; on failure, reopen after the last block seen. */
function connect(fromHeight) {
  if (source) source.close();
  source = new EventSource(`v1/events?from_height=${fromHeight}`);
  source.addEventListener("open", () => {
    liveEl.textContent = "live";
    liveEl.className = "live";
  });
  source.addEventListener("block", (ev) => {
    try {
      onBlock(JSON.parse(ev.data));
    } catch (e) {
      liveEl.textContent = "bad event from the node";
    }
    liveEl.textContent = `live · height ${store.lastHeight}`;
  });
  source.addEventListener("error", () => {
    liveEl.textContent = "stream lost, reconnecting…";
    liveEl.className = "live down";
    source.close();
    setTimeout(() => connect(store.lastHeight + 1), 2000);
  });
}

// ------------------------------------------------------------------------------- pages

let cleanup = [];
let view = main; // the current page's container: a left page's late work draws into a detached one
let generation = 0; // bumped on every navigation: late async work of a left page draws nothing
const onCleanup = (f) => cleanup.push(f);

function every(ms, f) {
  const id = setInterval(f, ms);
  onCleanup(() => clearInterval(id));
}

function listen(f) {
  store.listeners.add(f);
  onCleanup(() => store.listeners.delete(f));
}

function throughput() {
  // tx/s per 10-second bucket and the mean block time in it, over the window
  const s = store.series;
  if (s.length < 2) return { buckets: [], tps: 0, blockMs: 0 };
  const end = s[s.length - 1].timestamp;
  const size = 10000;
  const n = WINDOW_MS / size;
  const buckets = Array.from({ length: n }, () => ({ txs: 0, blocks: 0, gaps: 0, gapSum: 0 }));
  for (let i = 0; i < s.length; i++) {
    const k = n - 1 - Math.floor((end - s[i].timestamp) / size);
    if (k < 0) continue;
    buckets[k].txs += s[i].txs;
    buckets[k].blocks += 1;
    if (i > 0) {
      buckets[k].gaps += 1;
      buckets[k].gapSum += s[i].timestamp - s[i - 1].timestamp;
    }
  }
  const lastMin = s.filter((x) => x.timestamp > end - 60000);
  const span = lastMin.length > 1 ? (lastMin[lastMin.length - 1].timestamp - lastMin[0].timestamp) : 0;
  const txs = lastMin.slice(1).reduce((a, x) => a + x.txs, 0);
  return {
    buckets,
    tps: span ? (txs * 1000) / span : 0,
    blockMs: lastMin.length > 1 ? span / (lastMin.length - 1) : 0,
  };
}

function chart(t) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 300 100");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `Throughput ${t.tps.toFixed(1)} tx/s and block time ${Math.round(t.blockMs)} ms over the last minute`);
  const maxTps = Math.max(1, ...t.buckets.map((b) => b.txs / 10));
  const maxGap = Math.max(1, ...t.buckets.map((b) => (b.gaps ? b.gapSum / b.gaps : 0)));
  const w = 300 / Math.max(1, t.buckets.length);
  let line = "";
  t.buckets.forEach((b, i) => {
    const h = ((b.txs / 10) / maxTps) * 90;
    const r = document.createElementNS(NS, "rect");
    r.setAttribute("class", "bar");
    r.setAttribute("x", (i * w + 0.5).toFixed(1));
    r.setAttribute("y", (100 - h).toFixed(1));
    r.setAttribute("width", Math.max(0.5, w - 1).toFixed(1));
    r.setAttribute("height", h.toFixed(1));
    svg.append(r);
    if (b.gaps) line += `${line ? "L" : "M"}${(i * w + w / 2).toFixed(1)},${(100 - (b.gapSum / b.gaps / maxGap) * 90).toFixed(1)} `;
  });
  if (line) {
    const p = document.createElementNS(NS, "path");
    p.setAttribute("class", "line");
    p.setAttribute("d", line);
    svg.append(p);
  }
  return el("div", {}, svg,
    el("div", { class: "axis" }, el("span", {}, "5 min ago"), el("span", {}, "now")),
    el("p", { class: "legend" }, `Bars: transactions per second, per 10 s (peak ${maxTps.toFixed(1)}). `,
      `Line: mean block time (peak ${Math.round(maxGap)} ms). Last 5 minutes of committed blocks.`));
}

function role(st) {
  const vs = (store.validators && store.validators.validators) || [];
  const primary = vs.find((v) => bare(v.public_key) === bare(st.primary) || bare(v.address) === bare(st.primary));
  if (!st.validator) return "observer (not a validator)";
  if (primary && primary.node_id === st.node_id) return "validator, primary of this view";
  return "validator (backup)";
}

function renderOverview() {
  const st = store.status;
  const vs = store.validators.validators;
  const peers = new Set(st.peers.map((p) => bare(p.public_key)));
  const isPrimary = (v) => bare(v.public_key) === bare(st.primary) || bare(v.address) === bare(st.primary);
  const t = throughput();
  const stat = (k, v, id) => el("div", { class: "stat" }, el("div", { class: "k" }, k), el("div", { class: "v", id }, v));
  return [
    el("h1", {}, "Overview"),
    card(null, el("div", { class: "stats" },
      stat("Chain", st.chain_id, "chain-id"),
      stat("Height", String(st.height), "height"),
      stat("View", String(st.view), "view"),
      stat("Primary", st.primary_node_id || (st.primary ? nodeName(st.primary) : "none"), "primary"),
      stat("This node", `${st.node_id}`, "node-id"),
      stat("Role", role(st), "role"),
      stat("Peers", String(st.peers.length), "peers"),
      stat("Mempool", String(st.mempool), "mempool"),
      stat("Throughput", `${t.tps.toFixed(1)} tx/s`, "tps"),
      stat("Block time", t.blockMs ? `${Math.round(t.blockMs)} ms` : "–", "block-time"),
    ), st.syncing ? el("p", { class: "muted" }, "This node is syncing blocks from its peers.") : null),
    el("div", { class: "grid" },
      card("Throughput and block time", chart(t)),
      card(`Validators (${vs.length})`, el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, el("th", {}, "Node"), el("th", {}, "Status"), el("th", { class: "hide-narrow" }, "Public key"), el("th", { class: "hide-narrow" }, "API"))),
        el("tbody", {}, vs.map((v) => el("tr", {},
          el("td", {}, v.node_id, isPrimary(v) ? el("span", { class: "badge self" }, " primary") : null),
          el("td", {}, v.node_id === st.node_id ? el("span", { class: "badge self" }, "this node")
            : peers.has(bare(v.public_key)) ? el("span", { class: "badge up" }, "connected")
            : el("span", { class: "badge down" }, "not connected")),
          el("td", { class: "hash hide-narrow" }, short(v.public_key, 18)),
          el("td", { class: "mono hide-narrow" }, v.api_addr),
        ))))))),
    card("Peers", st.peers.length ? el("ul", { class: "list" }, st.peers.map((p) =>
      el("li", {}, p.node_id || "unknown node", " ", el("span", { class: "hash muted" }, short(p.public_key, 18)))))
      : el("p", { class: "muted" }, "No peer connected. Check the other nodes and their p2p addresses.")),
  ];
}

async function pageOverview() {
  const v = view;
  await refreshStatus();
  const draw = () => v.replaceChildren(...renderOverview());
  draw();
  listen(() => {
    const h = document.getElementById("height");
    if (h) h.textContent = String(store.status.height);
  });
  const gen = generation;
  every(3000, async () => {
    try {
      await refreshStatus();
      if (gen !== generation) return;
      const focus = document.activeElement && document.activeElement.id;
      draw();
      if (focus) document.getElementById(focus)?.focus();
    } catch (e) {
      if (gen === generation) v.prepend(errorBox(e, "Refreshing the status failed"));
    }
  });
}

function blockRow(b, fresh) {
  return el("tr", { class: fresh ? "new" : null },
    el("td", {}, link(`#/block/${b.height}`, String(b.height))),
    el("td", { class: "mono" }, fmtTime(b.timestamp).slice(11)),
    el("td", {}, String(b.tx_count)),
    el("td", { class: "hide-narrow" }, nodeName(b.proposer)),
    el("td", { class: "hash hide-narrow" }, hashLink("block", b.hash, 16)),
  );
}

async function pageBlocks() {
  const v = view;
  if (!store.validators) await refreshStatus();
  const body = el("tbody", { id: "blocks-body" }, store.blocks.map((b) => blockRow(b, false)));
  v.replaceChildren(
    el("h1", {}, "Latest blocks"),
    card(null, el("p", { class: "muted" }, "Blocks appear here as they are committed. Search by height, block or transaction hash, or address above."),
      el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, el("th", {}, "Height"), el("th", {}, "Time (UTC)"), el("th", {}, "Txs"),
          el("th", { class: "hide-narrow" }, "Proposer"), el("th", { class: "hide-narrow" }, "Hash"))),
        body))),
  );
  listen((b) => {
    body.prepend(blockRow(b, true));
    while (body.children.length > MAX_BLOCKS) body.lastChild.remove();
  });
}

function certificateView(certHex, block) {
  let cert;
  try {
    cert = V.decodeCertificate(V.unhex(certHex));
  } catch (e) {
    return el("p", { class: "error" }, `The certificate does not decode (${e.message}).`);
  }
  const chain = new TextEncoder().encode(store.status.chain_id);
  const msg = V.pack([new TextEncoder().encode("chainnode/consensus/v1"), chain, 3n, cert.height, cert.view, cert.blockHash]);
  const n = store.validators.validators.length;
  const rows = cert.signatures.map(([k, s]) => {
    const ok = V.sm2Verify(k, msg, s);
    return el("tr", {},
      el("td", {}, nodeName(V.hex(k))),
      el("td", {}, ok ? el("span", { class: "badge up" }, "signature verifies") : el("span", { class: "badge down" }, "does not verify")),
      el("td", { class: "hash hide-narrow" }, short(V.hex(k), 18)));
  });
  const matches = V.hex(cert.blockHash) === block.hash && Number(cert.height) === block.header.height;
  return el("div", { id: "certificate" },
    el("p", {}, `${cert.signatures.length} validators signed this block in view ${cert.view} `,
      `(the current set has ${n}; a quorum of it is ${n - Math.floor((n - 1) / 3)}). `,
      matches ? "The certificate names this block." : el("strong", { class: "error" }, "The certificate names another block!"),
      " Signatures checked in this browser (SM2)."),
    el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, el("th", {}, "Signer"), el("th", {}, "Check"), el("th", { class: "hide-narrow" }, "Public key"))),
      el("tbody", {}, rows))));
}

async function pageBlock(id) {
  const v = view;
  if (!store.validators) await refreshStatus();
  const data = await api(`v1/blocks/${encodeURIComponent(id)}`);
  const b = data.block;
  const h = b.header;
  if (b.txs && b.txs.length) learnSuite(b.txs[0]);
  v.replaceChildren(
    el("h1", {}, `Block ${h.height}`),
    el("div", { class: "row" },
      h.height > 0 ? link(`#/block/${h.height - 1}`, "← previous") : null,
      link(`#/block/${h.height + 1}`, "next →")),
    card("Header", kv([
      ["Hash", el("span", { class: "hash" }, b.hash)],
      ["Time", fmtTime(h.timestamp)],
      ["Proposer", h.proposer ? nodeName(h.proposer) : "genesis"],
      ["View", String(h.view)],
      ["Previous", h.height > 0 ? link(`#/block/${h.height - 1}`, h.prev_hash, "hash") : el("span", { class: "hash" }, h.prev_hash)],
      ["Tx root", el("span", { class: "hash" }, h.tx_root)],
      ["Receipts root", el("span", { class: "hash" }, h.receipts_root)],
      ["State root", el("span", { class: "hash" }, h.state_root)],
      ...(h.checkpoint ? [["State checkpoint", el("span", {},
        `height ${h.checkpoint.height}: ${h.checkpoint.chunks} chunks, ${h.checkpoint.entries} entries, root `,
        el("span", { class: "hash" }, h.checkpoint.root))]] : []),
    ])),
    card(`Transactions (${b.tx_count})`, b.tx_count ? el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, "Hash"), el("th", {}, "Call"), el("th", { class: "hide-narrow" }, "Sender"))),
      el("tbody", {}, (b.txs || []).map((tx, i) => el("tr", {},
        el("td", {}, String(i)),
        el("td", {}, hashLink("tx", tx.hash, 16)),
        el("td", { class: "mono" }, `${tx.contract}.${tx.method}`),
        el("td", { class: "hide-narrow" }, hashLink("address", senderOf(tx), 16)))))))
      : el("p", { class: "muted" }, "No transactions (an empty block).")),
    card("Commit certificate", data.certificate ? certificateView(data.certificate, b)
      : el("p", { class: "muted" }, "No certificate stored for this block (the genesis block has none).")),
  );
}

function waitForTx(h, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(false), ms);
    const f = (b) => b.tx_hashes && b.tx_hashes.includes(h) && done(true);
    function done(ok) {
      clearTimeout(timer);
      store.listeners.delete(f);
      resolve(ok);
    }
    store.listeners.add(f);
    onCleanup(() => done(false));
  });
}

async function pageTx(hash) {
  const v = view;
  const h = hash.toLowerCase().replace(/^0x/, "");
  let data;
  try {
    data = await api(`v1/transactions/${h}`);
  } catch (e) {
    if (e.status !== 404) throw e;
    v.replaceChildren(el("h1", {}, "Transaction"), card(null,
      el("p", { id: "tx-pending", role: "status" }, `Transaction ${h} is not committed yet; waiting a minute for it to be…`)));
    if (!(await waitForTx(h, 60000))) {
      if (location.hash !== `#/tx/${hash}`) return;
      throw new ApiError(`No committed transaction ${h}.`, 404,
        "Check the hash; a transaction that is not committed within its block limit never will be.");
    }
    data = await api(`v1/transactions/${h}`);
  }
  const { receipt } = await api(`v1/receipts/${h}`);
  const tx = data.transaction;
  learnSuite(tx);
  const sender = senderOf(tx);
  v.replaceChildren(
    el("h1", {}, "Transaction"),
    card("Summary", kv([
      ["Hash", el("span", { class: "hash", id: "tx-hash-value" }, tx.hash)],
      ["Status", el("span", { id: "tx-status", class: receipt.status === "ok" ? "badge up" : "badge down" }, receipt.status)],
      ["Block", link(`#/block/${data.height}`, `${data.height}`)],
      ["Position", String(data.index)],
      ["Call", el("code", {}, `${tx.contract}.${tx.method}`)],
      ["Sender", el("span", { id: "tx-sender" }, hashLink("address", sender, 42))],
      ["Nonce", String(tx.nonce)],
      ["Gas", `${receipt.gas_used} used of ${tx.gas_limit}`],
    ]), el("div", { class: "row" }, link(`#/verify/${tx.hash}`, "Verify this record in the browser →"))),
    card("Arguments (decoded)", el("pre", { id: "tx-args" }, json(tx.args_value))),
    card("Receipt", kv([
      ["Result", receipt.status === "ok" ? "ok" : `failed: ${receipt.error}`],
      ["Return value", el("pre", { id: "tx-return" }, json(receipt.return_value_json))],
      ["Events", receipt.events.length ? el("ul", { class: "list", id: "tx-events" }, receipt.events.map((ev) =>
        el("li", {}, el("strong", {}, ev.name), " from ", el("span", { class: "hash" }, short(ev.contract, 16)),
          el("pre", {}, json(ev.fields_value))))) : "none"],
    ])),
  );
}

async function viewCall(contract, method, args) {
  const res = await api("v1/call", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ contract, method, args }),
  });
  if (!res.ok) throw new ApiError(res.error || "the call failed", 200, "");
  return res.result;
}

async function pageAddress(addr) {
  const v = view;
  const a = addr0x(addr);
  const parts = [el("h1", {}, "Address"), card(null, kv([["Address", el("span", { class: "hash", id: "address-value" }, a)]]))];
  v.replaceChildren(...parts);
  const out = [];
  try {
    const roles = await viewCall("permissions", "roles", [{ hex: bare(a) }]);
    out.push(card("Roles", el("p", { id: "roles" }, roles.length ? roles.join(", ") : "none (may call what the open mode allows)")));
  } catch (e) {
    out.push(card("Roles", errorBox(e, "Reading the roles failed")));
  }
  try {
    const n = await viewCall("evidence", "count_by_owner", [a]);
    const hashes = n ? await viewCall("evidence", "list_by_owner", [a, Math.max(0, n - 20), 20]) : [];
    const items = [];
    for (const dh of hashes.slice().reverse()) {
      const rec = await viewCall("evidence", "get", [dh]);
      items.push(el("li", {}, el("strong", {}, rec ? rec.title || rec.doc_type : ""), " ",
        el("span", { class: "hash" }, dh), " ", rec ? hashLink("tx", rec.tx, 12) : null));
    }
    out.push(card(`Evidence records owned (${n})`, items.length ? el("ul", { class: "list" }, items)
      : el("p", { class: "muted" }, "None.")));
  } catch (e) {
    out.push(card("Evidence records", errorBox(e, "Reading the evidence records failed")));
  }
  v.append(...out);
}

// Contracts and governance --------------------------------------------------------------

const SYSTEM = ["governance", "permissions", "deployment"];

function methodsOf(c) {
  const ms = c.methods || [];
  return (Array.isArray(ms) ? ms : Object.entries(ms).map(([name, m]) => ({ name, ...m }))).map((m) => ({
    name: m.name,
    view: !!(m.view || m.kind === "view"),
    params: (m.params || m.parameters || []).map((p) => (typeof p === "string" ? { name: p } : p)),
    signature: m.signature || "",
    doc: m.doc || m.docstring || "",
  }));
}

function callForm(contracts) {
  const contract = el("input", { id: "call-contract", type: "text", list: "call-contracts", value: contracts[0] ? contracts[0].name : "",
    autocomplete: "off", spellcheck: "false" });
  const names = el("datalist", { id: "call-contracts" }, contracts.map((c) => el("option", { value: c.name })));
  const method = el("input", { id: "call-method", type: "text", list: "call-methods", autocomplete: "off", spellcheck: "false" });
  const methods = el("datalist", { id: "call-methods" });
  const args = el("textarea", { id: "call-args", rows: "3", spellcheck: "false" }, "[]");
  const out = el("pre", { id: "call-result", "aria-live": "polite" });
  const help = el("p", { class: "muted", id: "call-help" });
  const views = () => {
    const c = contracts.find((x) => x.name === contract.value.trim());
    return c ? c.methods.filter((m) => m.view && m.name) : [];
  };
  const fill = () => {
    methods.replaceChildren(...views().map((m) => el("option", { value: m.name })));
    setHelp();
  };
  const setHelp = () => {
    const m = views().find((x) => x.name === method.value.trim());
    help.textContent = m ? `${m.name}(${m.params.map((p) => (p.type ? `${p.name}: ${p.type}` : p.name)).join(", ")})${m.doc ? " — " + m.doc : ""}`
      : views().length ? `View methods: ${views().map((x) => x.name).join(", ")}` : "Type a view method's name.";
  };
  contract.addEventListener("input", fill);
  method.addEventListener("input", setHelp);
  fill();
  const form = el("form", {
    onsubmit: async (ev) => {
      ev.preventDefault();
      let a;
      try {
        a = JSON.parse(args.value || "[]");
        if (!Array.isArray(a)) throw new Error("not a list");
      } catch (e) {
        out.className = "error";
        out.textContent = 'The arguments are a JSON list, e.g. ["ab12…", 3]; bytes as {"hex": "…"}.';
        return;
      }
      out.className = "";
      out.textContent = "calling…";
      try {
        const res = await api("v1/call", {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ contract: contract.value.trim(), method: method.value.trim(), args: a }),
        });
        out.className = res.ok ? "" : "error";
        out.textContent = res.ok ? json(res.result) + `\n(gas ${res.gas_used})` : `failed: ${res.error}`;
      } catch (e) {
        out.className = "error";
        out.textContent = `${e.message} ${e.hint || ""}`;
      }
    },
  },
  el("label", { for: "call-contract" }, "Contract"), contract, names,
  el("label", { for: "call-method" }, "View method"), method, methods, help,
  el("label", { for: "call-args" }, "Arguments (JSON list)"), args,
  el("div", { class: "row" }, el("button", { type: "submit", id: "call-submit" }, "Call (read only)")), out);
  return form;
}

async function governanceCard() {
  const parts = [];
  const [admins, mode] = await Promise.all([viewCall("governance", "admins", []), viewCall("permissions", "mode", [])]);
  const vs = store.validators.validators;
  parts.push(kv([["Permission mode", mode], ["Validators", String(vs.length)], ["Admins", String(admins.length)]]));
  parts.push(el("h3", {}, "Validators"), el("ul", { class: "list" }, vs.map((v) =>
    el("li", {}, el("strong", {}, v.node_id), " ", el("span", { class: "hash muted" }, short(v.public_key, 18)), " ", v.api_addr))));
  const adminRows = [];
  for (const a of admins) {
    const pub = a.replace(/^0x/, "");
    let roles = [];
    try {
      roles = await viewCall("permissions", "roles", [{ hex: pub }]);
    } catch (e) {
      roles = ["?"];
    }
    adminRows.push(el("li", {}, hashLink("address", addr0x(addressOf(pub)), 42), " ", el("span", { class: "muted" }, roles.join(", "))));
  }
  parts.push(el("h3", {}, "Admins and their roles"), el("ul", { class: "list", id: "admins" }, adminRows));
  const props = el("div", { id: "proposals" }, el("p", { class: "muted" }, "Reading governance votes from the event stream…"));
  parts.push(el("h3", {}, "Open proposals"), props);
  loadProposals(props, admins.length);
  return card("Governance", ...parts);
}

/** Open proposals: the Voted events of governance, kept where governance.votes is not empty. */
function loadProposals(host, nAdmins) {
  const top = store.status.height;
  const from = Math.max(1, top - 20000);
  const seen = new Map();
  const es = new EventSource(`v1/events?contract=governance&event=Voted&from_height=${from}`);
  let done = false;
  const finish = async () => {
    if (done) return;
    done = true;
    es.close();
    const open = [];
    for (const [pid, ev] of seen) {
      try {
        const voters = await viewCall("governance", "votes", [{ hex: pid.replace(/^0x/, "") }]);
        if (voters.length) open.push([pid, ev, voters]);
      } catch (e) {
        open.push([pid, ev, null]);
      }
    }
    host.replaceChildren(open.length ? el("ul", { class: "list" }, open.map(([pid, ev, voters]) => el("li", {},
      el("strong", {}, ev.action), ` — ${voters ? voters.length : "?"} of ${nAdmins} admins voted (2/3 applies it)`,
      el("div", { class: "hash muted" }, `proposal ${pid}`),
      voters ? el("div", { class: "muted" }, "voters: ", voters.map((v) => short(addr0x(addressOf(v)), 14)).join(", ")) : null)))
      : el("p", { class: "muted" }, `No open proposal (blocks ${from}–${top} scanned).`));
  };
  es.addEventListener("contract_event", (ev) => {
    const d = JSON.parse(ev.data);
    const f = d.fields_value || {};
    if (f.proposal) seen.set(f.proposal, f);
  });
  es.addEventListener("block", (ev) => {
    if (JSON.parse(ev.data).height >= top) finish();
  });
  es.addEventListener("error", () => {
    if (!done) {
      done = true;
      es.close();
      host.replaceChildren(el("p", { class: "error" }, "The event stream failed; reload the page to retry."));
    }
  });
  onCleanup(() => {
    done = true;
    es.close();
  });
}

/** Every contract: GET /v1/contracts is paged (`next` is the `after` of the next page;
 * an older node answered one unpaged list). At most 50 pages are read. */
async function contractList() {
  const out = [];
  let path = "v1/contracts";
  for (let pages = 0; pages < 50; pages++) {
    const data = await api(path);
    if (Array.isArray(data)) return data;
    out.push(...(data.contracts || []));
    if (!data.next) break;
    path = `v1/contracts?after=${encodeURIComponent(data.next)}`;
  }
  return out;
}

async function pageContracts() {
  const v = view;
  if (!store.validators) await refreshStatus();
  let contracts = null;
  let listError = null;
  try {
    const doc = await api("openapi.json");
    if (!doc.paths || !doc.paths["/v1/contracts"]) {
      throw new ApiError("this node's API has no GET /v1/contracts (an older version).", 404,
        "The standard and system contracts are listed; call their view methods by name.");
    }
    const list = await contractList();
    contracts = [];
    for (const c of list) {
      let detail = c;
      if (!c.methods) {
        try {
          detail = await api(`v1/contracts/${encodeURIComponent(c.name || c.address)}`);
          detail = detail.contract || detail;
        } catch (e) {
          detail = c;
        }
      }
      contracts.push({ name: c.name || c.address, address: c.address || detail.address, kind: c.kind || detail.kind,
        doc: detail.doc || "", methods: methodsOf(detail) });
    }
  } catch (e) {
    listError = e;
  }
  const shown = contracts || ["evidence", "traceability", "records", ...SYSTEM].map((name) => ({ name, methods: [] }));
  let gov;
  try {
    gov = await governanceCard();
  } catch (e) {
    gov = card("Governance", errorBox(e, "Reading the governance state failed"));
  }
  v.replaceChildren(
    el("h1", {}, "Contracts"),
    el("div", { class: "grid" },
      card("Deployed contracts",
        listError ? el("p", { class: "muted", id: "contracts-note" }, listError.message, " ", listError.hint || "") : null,
        el("ul", { class: "list", id: "contracts" }, shown.map((c) => el("li", {},
          el("strong", {}, c.name), " ", c.kind ? el("span", { class: "badge" }, c.kind) : null,
          c.address && c.address !== c.name ? el("div", { class: "hash muted" }, c.address) : null,
          c.doc ? el("div", { class: "muted" }, c.doc.split("\n")[0]) : null,
          c.methods.length ? el("ul", { class: "methods" }, c.methods.map((m) => el("li", {},
            el("code", {}, m.signature || `${m.name}(${m.params.map((p) => (p.type ? `${p.name}: ${p.type}` : p.name)).join(", ")})`),
            m.view ? el("span", { class: "badge up" }, " view") : null,
            m.doc && !m.doc.startsWith(m.name + "(") ? el("div", { class: "muted" }, m.doc.split("\n")[0]) : null))) : null)))),
      card("Call a view method", callForm(shown))),
    gov,
  );
}

async function pageVerify(hash) {
  const v = view;
  v.replaceChildren(
    el("h1", {}, "Verify a record"),
    el("p", { class: "muted" }, "Checked in this browser, offline, against the genesis file alone: SM3, the Merkle paths, ",
      "the header, every SM2 signature of the certificate and the validator-set changes. ",
      link("verify.html", "Open the standalone verifier"), " (save it as one file to verify without a node)."),
    el("div", { id: "verifier" }),
  );
  const ui = V.mount(document.getElementById("verifier"), { online: true });
  if (hash) {
    document.getElementById("tx-hash").value = hash;
    ui.fetchBundle(hash);
  }
}

// ------------------------------------------------------------------------------ router

const routes = [
  [/^#?\/?$/, "overview", () => pageOverview()],
  [/^#\/blocks$/, "blocks", () => pageBlocks()],
  [/^#\/block\/([0-9a-fA-Fx]+|latest)$/, "blocks", (m) => pageBlock(m[1])],
  [/^#\/tx\/((0x)?[0-9a-fA-F]{64})$/, "blocks", (m) => pageTx(m[1])],
  [/^#\/address\/((0x)?[0-9a-fA-F]{40})$/, "blocks", (m) => pageAddress(m[1])],
  [/^#\/contracts$/, "contracts", () => pageContracts()],
  [/^#\/verify(?:\/((0x)?[0-9a-fA-F]{64}))?$/, "verify", (m) => pageVerify(m[1])],
];

async function route() {
  for (const f of cleanup) f();
  cleanup = [];
  const gen = ++generation;
  const hash = location.hash || "#/";
  const found = routes.find(([re]) => re.test(hash));
  for (const a of document.querySelectorAll("header nav a")) {
    if (found && a.dataset.page === found[1]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!found) {
    main.replaceChildren(el("h1", {}, "Not found"), el("p", {}, "No such page. ", link("#/", "Go to the overview.")));
    return;
  }
  view = el("div", { class: "view" }, el("p", { class: "muted" }, "Loading…"));
  main.replaceChildren(view);
  try {
    await found[2](hash.match(found[0]));
  } catch (e) {
    if (gen !== generation) return;
    main.replaceChildren(el("h1", {}, "Something went wrong"), errorBox(e, "Loading this page failed"),
      el("p", {}, link("#/", "Back to the overview")));
  }
  if (gen === generation) main.focus({ preventScroll: true });
}

async function search(q) {
  const s = q.trim().toLowerCase().replace(/^0x/, "");
  if (/^[0-9]+$/.test(s)) location.hash = `#/block/${s}`;
  else if (/^[0-9a-f]{40}$/.test(s)) location.hash = `#/address/${s}`;
  else if (/^[0-9a-f]{64}$/.test(s)) {
    try {
      await api(`v1/transactions/${s}`);
      location.hash = `#/tx/${s}`;
    } catch (e) {
      if (e.status !== 404) throw e;
      try {
        await api(`v1/blocks/${s}?txs=false`);
        location.hash = `#/block/${s}`;
      } catch (e2) {
        location.hash = `#/tx/${s}`; // maybe not committed yet: the tx page waits for it
      }
    }
  } else {
    main.prepend(el("p", { class: "error", role: "alert" },
      "Search for a block height, a 64-hex-digit block or transaction hash, or a 40-hex-digit address."));
  }
}

document.getElementById("search").addEventListener("submit", (ev) => {
  ev.preventDefault();
  search(document.getElementById("search-q").value).catch((e) => main.prepend(errorBox(e, "Search failed")));
});
window.addEventListener("hashchange", route);

(async () => {
  try {
    const st = await refreshStatus();
    connect(Math.max(1, st.height - 120)); // recent blocks for the charts and the list
  } catch (e) {
    liveEl.textContent = "node unreachable";
    liveEl.className = "live down";
  }
  route();
})();
