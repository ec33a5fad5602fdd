/* chainnode proof verifier for the browser: SM3, SHA-256, SM2 and P-256 signature checks with
 * BigInt, the canonical msgpack encoding, and the checks of chainnode.proofs.bundle, so that a
 * proof bundle is verified here, offline, against the chain's genesis file alone, with the same
 * VALID/INVALID report as `chainnode verify-proof`.
 *
 * A classic script (no modules: it must also run inlined in verify.html opened from disk). It
 * defines one global, ChainnodeVerify. Nothing here talks to the network; mount() adds the
 * optional "fetch from this node" parts when the page is served by a node.
 */
(function (root) {
  "use strict";

  const FORMAT = "chainnode-proof/1";
  const MAX_BUNDLE_BYTES = 8 * 1024 * 1024;
  const MAX_GOVERNANCE = 4096;
  const MAX_VALIDATORS = 1024;
  const VSET_METHODS = ["add_validator", "remove_validator"];
  const GOVERNANCE = "governance";
  const U64 = (1n << 64n) - 1n;
  const DEFAULT_SNAPSHOT_INTERVAL = 1000; // chainnode.model.genesis
  const DEFAULT_SNAPSHOT_LAG = 64;

  class ProofError extends Error {}
  class Malformed extends Error {}

  // ------------------------------------------------------------------------------- bytes

  const utf8 = new TextEncoder();
  const utf8Strict = new TextDecoder("utf-8", { fatal: true });

  function hex(b) {
    let s = "";
    for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
    return s;
  }

  function unhex(s) {
    if (typeof s !== "string" || s.length % 2 || !/^[0-9a-fA-F]*$/.test(s)) {
      throw new Malformed("not hex");
    }
    const out = new Uint8Array(s.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
    return out;
  }

  function concat(...parts) {
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function compare(a, b) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  }

  function toInt(b) {
    return b.length ? BigInt("0x" + hex(b)) : 0n;
  }

  function fromInt(x, size) {
    return unhex(x.toString(16).padStart(2 * size, "0"));
  }

  // ------------------------------------------------------------------- SM3 and SHA-256

  const rotl = (x, n) => ((x << (n & 31)) | (x >>> (32 - (n & 31)))) >>> 0;

  /** A Merkle-Damgard hash over 64-byte blocks with a big-endian bit length (SM3, SHA-256). */
  class BlockHash {
    constructor(iv, compress) {
      this.v = Uint32Array.from(iv);
      this.compress = compress;
      this.buf = new Uint8Array(64);
      this.fill = 0;
      this.total = 0;
      this.w = new Uint32Array(68);
    }
    update(data) {
      let i = 0;
      this.total += data.length;
      if (this.fill) {
        const take = Math.min(64 - this.fill, data.length);
        this.buf.set(data.subarray(0, take), this.fill);
        this.fill += take;
        i = take;
        if (this.fill < 64) return this;
        this.compress(this.v, this.buf, 0, this.w);
        this.fill = 0;
      }
      for (; i + 64 <= data.length; i += 64) this.compress(this.v, data, i, this.w);
      if (i < data.length) {
        this.buf.set(data.subarray(i), 0);
        this.fill = data.length - i;
      }
      return this;
    }
    digest() {
      const bits = BigInt(this.total) * 8n;
      const padLen = (this.fill < 56 ? 56 : 120) - this.fill;
      const pad = new Uint8Array(padLen + 8);
      pad[0] = 0x80;
      pad.set(fromInt(bits, 8), padLen);
      this.update(pad);
      const out = new Uint8Array(32);
      for (let i = 0; i < 8; i++) {
        out[4 * i] = this.v[i] >>> 24;
        out[4 * i + 1] = (this.v[i] >>> 16) & 255;
        out[4 * i + 2] = (this.v[i] >>> 8) & 255;
        out[4 * i + 3] = this.v[i] & 255;
      }
      return out;
    }
  }

  const SM3_IV = [
    0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600, 0xa96f30bc, 0x163138aa, 0xe38dee4d,
    0xb0fb0e4e,
  ];
  const SM3_T = new Uint32Array(64);
  for (let j = 0; j < 64; j++) SM3_T[j] = rotl(j < 16 ? 0x79cc4519 : 0x7a879d8a, j % 32);

  function sm3Compress(v, b, o, w) {
    for (let j = 0; j < 16; j++) {
      const k = o + 4 * j;
      w[j] = ((b[k] << 24) | (b[k + 1] << 16) | (b[k + 2] << 8) | b[k + 3]) >>> 0;
    }
    for (let j = 16; j < 68; j++) {
      const x = w[j - 16] ^ w[j - 9] ^ rotl(w[j - 3], 15);
      w[j] = (x ^ rotl(x, 15) ^ rotl(x, 23) ^ rotl(w[j - 13], 7) ^ w[j - 6]) >>> 0;
    }
    let [A, B, C, D, E, F, G, H] = v;
    for (let j = 0; j < 64; j++) {
      const a12 = rotl(A, 12);
      const ss1 = rotl((a12 + E + SM3_T[j]) >>> 0, 7);
      const ss2 = ss1 ^ a12;
      const ff = j < 16 ? A ^ B ^ C : (A & B) | (A & C) | (B & C);
      const gg = j < 16 ? E ^ F ^ G : (E & F) | (~E & G);
      const tt1 = (ff + D + ss2 + (w[j] ^ w[j + 4])) >>> 0;
      const tt2 = (gg + H + ss1 + w[j]) >>> 0;
      D = C;
      C = rotl(B, 9);
      B = A;
      A = tt1;
      H = G;
      G = rotl(F, 19);
      F = E;
      E = (tt2 ^ rotl(tt2, 9) ^ rotl(tt2, 17)) >>> 0;
    }
    v[0] ^= A; v[1] ^= B; v[2] ^= C; v[3] ^= D; v[4] ^= E; v[5] ^= F; v[6] ^= G; v[7] ^= H;
  }

  const SHA256_IV = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
    0x5be0cd19,
  ];
  const SHA256_K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
  ]);
  const rotr = (x, n) => ((x >>> n) | (x << (32 - n))) >>> 0;

  function sha256Compress(v, b, o, w) {
    for (let j = 0; j < 16; j++) {
      const k = o + 4 * j;
      w[j] = ((b[k] << 24) | (b[k + 1] << 16) | (b[k + 2] << 8) | b[k + 3]) >>> 0;
    }
    for (let j = 16; j < 64; j++) {
      const s0 = rotr(w[j - 15], 7) ^ rotr(w[j - 15], 18) ^ (w[j - 15] >>> 3);
      const s1 = rotr(w[j - 2], 17) ^ rotr(w[j - 2], 19) ^ (w[j - 2] >>> 10);
      w[j] = (w[j - 16] + s0 + w[j - 7] + s1) >>> 0;
    }
    let [a, b2, c, d, e, f, g, h] = v;
    for (let j = 0; j < 64; j++) {
      const t1 =
        (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + SHA256_K[j] + w[j]) >>>
        0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b2) ^ (a & c) ^ (b2 & c))) >>> 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b2;
      b2 = a;
      a = (t1 + t2) >>> 0;
    }
    v[0] += a; v[1] += b2; v[2] += c; v[3] += d; v[4] += e; v[5] += f; v[6] += g; v[7] += h;
  }

  const sm3Hasher = () => new BlockHash(SM3_IV, sm3Compress);
  const sha256Hasher = () => new BlockHash(SHA256_IV, sha256Compress);
  const sm3 = (data) => sm3Hasher().update(data).digest();
  const sha256 = (data) => sha256Hasher().update(data).digest();

  // ------------------------------------------------------------- elliptic curves (BigInt)

  const mod = (a, m) => {
    const r = a % m;
    return r < 0n ? r + m : r;
  };

  function inverse(a, m) {
    let [r0, r1] = [mod(a, m), m];
    let [s0, s1] = [1n, 0n];
    while (r1 !== 0n) {
      const q = r0 / r1;
      [r0, r1] = [r1, r0 - q * r1];
      [s0, s1] = [s1, s0 - q * s1];
    }
    return mod(s0, m);
  }

  function curve(p, a, b, n, gx, gy) {
    return { p: BigInt(p), a: BigInt(a), b: BigInt(b), n: BigInt(n), g: [BigInt(gx), BigInt(gy)] };
  }

  const SM2P256 = curve(
    "0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF",
    "0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC",
    "0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93",
    "0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123",
    "0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7",
    "0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0",
  );
  const P256 = curve(
    "0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF",
    "0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC",
    "0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B",
    "0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",
    "0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296",
    "0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5",
  );

  // Jacobian points [X, Y, Z]; Z = 0 is the point at infinity.
  function jDouble(c, P) {
    const [X, Y, Z] = P;
    if (Z === 0n || Y === 0n) return [0n, 1n, 0n];
    const p = c.p;
    const YY = (Y * Y) % p;
    const S = (4n * X * YY) % p;
    const ZZ = (Z * Z) % p;
    const M = (3n * X * X + c.a * ZZ * ZZ) % p;
    const X3 = mod(M * M - 2n * S, p);
    const Y3 = mod(M * (S - X3) - 8n * YY * YY, p);
    const Z3 = (2n * Y * Z) % p;
    return [X3, Y3, Z3];
  }

  function jAdd(c, P, Q) {
    if (P[2] === 0n) return Q;
    if (Q[2] === 0n) return P;
    const p = c.p;
    const Z1Z1 = (P[2] * P[2]) % p;
    const Z2Z2 = (Q[2] * Q[2]) % p;
    const U1 = (P[0] * Z2Z2) % p;
    const U2 = (Q[0] * Z1Z1) % p;
    const S1 = (P[1] * Q[2] * Z2Z2) % p;
    const S2 = (Q[1] * P[2] * Z1Z1) % p;
    if (U1 === U2) return S1 === S2 ? jDouble(c, P) : [0n, 1n, 0n];
    const H = mod(U2 - U1, p);
    const R = mod(S2 - S1, p);
    const HH = (H * H) % p;
    const HHH = (HH * H) % p;
    const V = (U1 * HH) % p;
    const X3 = mod(R * R - HHH - 2n * V, p);
    const Y3 = mod(R * (V - X3) - S1 * HHH, p);
    const Z3 = (H * P[2] * Q[2]) % p;
    return [X3, Y3, Z3];
  }

  /** k1*P1 + k2*P2 (Shamir's trick), as affine [x, y] or null for infinity. */
  function mul2(c, k1, P1, k2, P2) {
    const A = [P1[0], P1[1], 1n];
    const B = [P2[0], P2[1], 1n];
    const AB = jAdd(c, A, B);
    let R = [0n, 1n, 0n];
    const bits = Math.max(k1.toString(2).length, k2.toString(2).length);
    for (let i = bits - 1; i >= 0; i--) {
      R = jDouble(c, R);
      const b1 = (k1 >> BigInt(i)) & 1n;
      const b2 = (k2 >> BigInt(i)) & 1n;
      if (b1 && b2) R = jAdd(c, R, AB);
      else if (b1) R = jAdd(c, R, A);
      else if (b2) R = jAdd(c, R, B);
    }
    if (R[2] === 0n) return null;
    const zi = inverse(R[2], c.p);
    const zi2 = (zi * zi) % c.p;
    return [(R[0] * zi2) % c.p, (R[1] * zi2 * zi) % c.p];
  }

  /** The affine point of a 65-byte uncompressed key on curve c, or null. */
  function parsePoint(c, pub) {
    if (!(pub instanceof Uint8Array) || pub.length !== 65 || pub[0] !== 4) return null;
    const x = toInt(pub.subarray(1, 33));
    const y = toInt(pub.subarray(33));
    if (x >= c.p || y >= c.p) return null;
    if (mod(y * y - (x * x * x + c.a * x + c.b), c.p) !== 0n) return null;
    return [x, y];
  }

  const DEFAULT_ID = utf8.encode("1234567812345678");
  const zCache = new Map();

  /** Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA), GB/T 32918.2 with the default ID. */
  function sm2Z(pub) {
    const key = hex(pub);
    let z = zCache.get(key);
    if (!z) {
      const c = SM2P256;
      const entl = new Uint8Array([(DEFAULT_ID.length * 8) >> 8, (DEFAULT_ID.length * 8) & 255]);
      z = sm3(
        concat(entl, DEFAULT_ID, fromInt(c.a, 32), fromInt(c.b, 32), fromInt(c.g[0], 32),
          fromInt(c.g[1], 32), pub.subarray(1)),
      );
      if (zCache.size < 4096) zCache.set(key, z);
    }
    return z;
  }

  /** SM2 signature check (GB/T 32918.2): raw 64-byte r||s over msg, default signer ID. */
  function sm2Verify(pub, msg, sig) {
    const c = SM2P256;
    if (!(sig instanceof Uint8Array) || sig.length !== 64) return false;
    const r = toInt(sig.subarray(0, 32));
    const s = toInt(sig.subarray(32));
    if (!(r > 0n && r < c.n && s > 0n && s < c.n)) return false;
    const P = parsePoint(c, pub);
    if (P === null) return false;
    const e = toInt(sm3(concat(sm2Z(pub), msg)));
    const t = (r + s) % c.n;
    if (t === 0n) return false;
    const X = mul2(c, s, c.g, t, P);
    return X !== null && (e + X[0]) % c.n === r;
  }

  /** ECDSA P-256 with SHA-256 over raw r||s, low s only (the chain's "ecdsa-p256" suite). */
  function p256Verify(pub, msg, sig) {
    const c = P256;
    if (!(sig instanceof Uint8Array) || sig.length !== 64) return false;
    const r = toInt(sig.subarray(0, 32));
    const s = toInt(sig.subarray(32));
    if (!(r > 0n && r < c.n && s > 0n && s <= c.n / 2n)) return false;
    const Q = parsePoint(c, pub);
    if (Q === null) return false;
    const e = toInt(sha256(msg));
    const w = inverse(s, c.n);
    const X = mul2(c, (e * w) % c.n, c.g, (r * w) % c.n, Q);
    return X !== null && X[0] % c.n === r;
  }

  const SUITES = {
    sm: { name: "sm", hash: sm3, verify: sm2Verify, curve: SM2P256 },
    "ecdsa-p256": { name: "ecdsa-p256", hash: sha256, verify: p256Verify, curve: P256 },
  };
  const address = (suite, pub) => suite.hash(pub.subarray(1)).subarray(12);

  // ------------------------------------------------------------------------- msgpack

  /** A msgpack float (never part of a canonical value: every check rejects it). */
  class Float {
    constructor(v) {
      this.value = v;
    }
  }

  /** A msgpack map, entries in order (the only maps here are contract-value debris). */
  class MsgMap {
    constructor(entries) {
      this.entries = entries;
    }
  }

  /** Decode untrusted msgpack: ints are BigInt, bin is Uint8Array, str is a string. */
  function unpack(data, limits) {
    const lim = Object.assign(
      { size: 16 * 1024 * 1024, bin: Infinity, str: Infinity, array: Infinity, map: Infinity },
      limits || {},
    );
    if (data.length > lim.size) throw new Malformed(`encoding larger than ${lim.size} bytes`);
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let pos = 0;
    const need = (n) => {
      if (pos + n > data.length) throw new Malformed("bad msgpack: truncated");
    };
    const u = (n) => {
      need(n);
      let v = 0n;
      for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(data[pos + i]);
      pos += n;
      return v;
    };
    const len = (n) => Number(u(n));
    const bytes = (n) => {
      if (n > lim.bin) throw new Malformed("bad msgpack: bin too long");
      need(n);
      const out = data.slice(pos, pos + n);
      pos += n;
      return out;
    };
    const str = (n) => {
      if (n > lim.str) throw new Malformed("bad msgpack: str too long");
      need(n);
      let s;
      try {
        s = utf8Strict.decode(data.subarray(pos, pos + n));
      } catch (e) {
        throw new Malformed("bad msgpack: str is not utf-8");
      }
      pos += n;
      return s;
    };
    const array = (n, depth) => {
      if (n > lim.array) throw new Malformed("bad msgpack: array too long");
      const out = [];
      for (let i = 0; i < n; i++) out.push(item(depth + 1));
      return out;
    };
    const map = (n, depth) => {
      if (n > lim.map) throw new Malformed("bad msgpack: map too long");
      const out = [];
      for (let i = 0; i < n; i++) {
        const k = item(depth + 1);
        if (typeof k !== "string" && !(k instanceof Uint8Array)) {
          throw new Malformed("bad msgpack: map key must be str or bin");
        }
        out.push([k, item(depth + 1)]);
      }
      return new MsgMap(out);
    };
    const signed = (n) => {
      const v = u(n);
      const bits = BigInt(8 * n);
      return v >= 1n << (bits - 1n) ? v - (1n << bits) : v;
    };
    function item(depth) {
      if (depth > 1024) throw new Malformed("bad msgpack: nested too deep");
      need(1);
      const t = data[pos++];
      if (t <= 0x7f) return BigInt(t);
      if (t >= 0xe0) return BigInt(t - 256);
      if ((t & 0xf0) === 0x80) return map(t & 15, depth);
      if ((t & 0xf0) === 0x90) return array(t & 15, depth);
      if ((t & 0xe0) === 0xa0) return str(t & 31);
      switch (t) {
        case 0xc0: return null;
        case 0xc2: return false;
        case 0xc3: return true;
        case 0xc4: return bytes(len(1));
        case 0xc5: return bytes(len(2));
        case 0xc6: return bytes(len(4));
        case 0xca: need(4); pos += 4; return new Float(dv.getFloat32(pos - 4));
        case 0xcb: need(8); pos += 8; return new Float(dv.getFloat64(pos - 8));
        case 0xcc: return u(1);
        case 0xcd: return u(2);
        case 0xce: return u(4);
        case 0xcf: return u(8);
        case 0xd0: return signed(1);
        case 0xd1: return signed(2);
        case 0xd2: return signed(4);
        case 0xd3: return signed(8);
        case 0xd9: return str(len(1));
        case 0xda: return str(len(2));
        case 0xdb: return str(len(4));
        case 0xdc: return array(len(2), depth);
        case 0xdd: return array(len(4), depth);
        case 0xde: return map(len(2), depth);
        case 0xdf: return map(len(4), depth);
        default: throw new Malformed(`bad msgpack: type 0x${t.toString(16)} is not allowed`);
      }
    }
    const v = item(0);
    if (pos !== data.length) throw new Malformed("bad msgpack: extra data");
    return v;
  }

  /** msgpack as chainnode's Python packer writes it (smallest forms; bin for bytes). */
  function pack(value) {
    const out = [];
    const be = (x, n) => {
      for (let i = n - 1; i >= 0; i--) out.push(Number((x >> BigInt(8 * i)) & 255n));
    };
    const head = (n, small, smallMax, t8, t16, t32) => {
      if (small !== null && n <= smallMax) out.push(small | n);
      else if (t8 !== null && n < 256) out.push(t8, n);
      else if (n < 65536) { out.push(t16); be(BigInt(n), 2); }
      else { out.push(t32); be(BigInt(n), 4); }
    };
    function put(v) {
      if (v === null) out.push(0xc0);
      else if (v === false) out.push(0xc2);
      else if (v === true) out.push(0xc3);
      else if (typeof v === "bigint") {
        if (v >= 0n) {
          if (v < 128n) out.push(Number(v));
          else if (v < 256n) { out.push(0xcc); be(v, 1); }
          else if (v < 65536n) { out.push(0xcd); be(v, 2); }
          else if (v < 1n << 32n) { out.push(0xce); be(v, 4); }
          else if (v <= U64) { out.push(0xcf); be(v, 8); }
          else throw new Malformed("integer out of msgpack range");
        } else if (v >= -32n) out.push(Number(v + 256n));
        else if (v >= -128n) { out.push(0xd0); be(v + 256n, 1); }
        else if (v >= -32768n) { out.push(0xd1); be(v + 65536n, 2); }
        else if (v >= -(1n << 31n)) { out.push(0xd2); be(v + (1n << 32n), 4); }
        else if (v >= -(1n << 63n)) { out.push(0xd3); be(v + (1n << 64n), 8); }
        else throw new Malformed("integer out of msgpack range");
      } else if (typeof v === "number") put(BigInt(v));
      else if (typeof v === "string") {
        const b = utf8.encode(v);
        head(b.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
        for (const x of b) out.push(x);
      } else if (v instanceof Uint8Array) {
        head(v.length, null, -1, 0xc4, 0xc5, 0xc6);
        for (const x of v) out.push(x);
      } else if (Array.isArray(v)) {
        head(v.length, 0x90, 15, null, 0xdc, 0xdd);
        for (const x of v) put(x);
      } else if (v instanceof MsgMap) {
        head(v.entries.length, 0x80, 15, null, 0xde, 0xdf);
        for (const [k, x] of v.entries) { put(k); put(x); }
      } else if (v instanceof Float) {
        out.push(0xcb);
        const f = new DataView(new ArrayBuffer(8));
        f.setFloat64(0, v.value);
        for (let i = 0; i < 8; i++) out.push(f.getUint8(i));
      } else throw new Malformed("cannot encode a " + typeof v);
    }
    put(value);
    return Uint8Array.from(out);
  }

  // ------------------------------------------- contract values (contracts/values.py)

  const INT_MIN = -(1n << 255n);
  const INT_MAX = (1n << 255n) - 1n;
  const I64_MIN = -(1n << 63n);

  /** A VM map: entries in insertion order. */
  class VMap {
    constructor(entries) {
      this.entries = entries;
    }
  }

  function vmFromWire(obj, depth) {
    if (Array.isArray(obj)) {
      if (depth >= 32) throw new Malformed("values nest deeper than 32");
      if (!obj.length || typeof obj[0] !== "bigint") throw new Malformed("container without a type tag");
      const tag = obj[0];
      if (tag === 0n) return obj.slice(1).map((x) => vmFromWire(x, depth + 1));
      if (tag === 1n) {
        if (obj.length % 2 !== 1) throw new Malformed("map with an odd number of entries");
        const entries = [];
        const seen = new Set();
        for (let i = 1; i < obj.length; i += 2) {
          const k = vmFromWire(obj[i], depth + 1);
          if (!(typeof k === "bigint" || typeof k === "string" || k instanceof Uint8Array)) {
            throw new Malformed("map key of a wrong type");
          }
          const id = typeof k === "bigint" ? "i" + k : typeof k === "string" ? "s" + k : "b" + hex(k);
          if (seen.has(id)) throw new Malformed("duplicate map key");
          seen.add(id);
          entries.push([k, vmFromWire(obj[i + 1], depth + 1)]);
        }
        return new VMap(entries);
      }
      if (tag === 2n && obj.length === 2 && obj[1] instanceof Uint8Array) {
        const b = obj[1];
        if (!b.length) return 0n;
        const x = toInt(b);
        return b[0] & 0x80 ? x - (1n << BigInt(8 * b.length)) : x;
      }
      throw new Malformed(`unknown container tag ${tag}`);
    }
    if (obj instanceof Float || obj instanceof MsgMap) throw new Malformed("msgpack type not allowed");
    return obj;
  }

  function bigintBytes(v) {
    // minimal two's complement, as Python's int.to_bytes(length, "big", signed=True)
    let n = 1;
    while (v < -(1n << BigInt(8 * n - 1)) || v >= 1n << BigInt(8 * n - 1)) n++;
    return fromInt(v < 0n ? v + (1n << BigInt(8 * n)) : v, n);
  }

  function vmToWire(v, depth) {
    if (typeof v === "bigint") {
      if (v < INT_MIN || v > INT_MAX) throw new Malformed("int out of range");
      return v >= I64_MIN && v <= U64 ? v : [2n, bigintBytes(v)];
    }
    if (Array.isArray(v)) {
      if (depth >= 32 || v.length > 4096) throw new Malformed("list too deep or long");
      return [0n, ...v.map((x) => vmToWire(x, depth + 1))];
    }
    if (v instanceof VMap) {
      if (depth >= 32 || v.entries.length > 4096) throw new Malformed("map too deep or long");
      const out = [1n];
      for (const [k, x] of v.entries) out.push(vmToWire(k, depth + 1), vmToWire(x, depth + 1));
      return out;
    }
    if (typeof v === "string" && [...v].length > 65536) throw new Malformed("str too long");
    if (v instanceof Uint8Array && v.length > 65536) throw new Malformed("bytes too long");
    return v;
  }

  /** The VM value of canonical bytes (contracts.decode_value); Malformed otherwise. */
  function decodeValue(data, limit) {
    limit = limit || 65536;
    if (data.length > limit) throw new Malformed(`encoded value of ${data.length} bytes exceeds ${limit}`);
    const v = vmFromWire(unpack(data, { bin: 65536, str: 4 * 65536, array: 2 * 4096 + 1, map: 0 }), 0);
    if (!equal(pack(vmToWire(v, 0)), data)) throw new Malformed("non-canonical encoding");
    return v;
  }

  /** A Python-json-like tree of a VM value (decoded_json / vm_json): bytes become 0x-hex. */
  function vmJson(v) {
    if (v instanceof Uint8Array) return "0x" + hex(v);
    if (Array.isArray(v)) return v.map(vmJson);
    if (v instanceof VMap) {
      const keys = [];
      const vals = new Map();
      for (const [k, x] of v.entries) {
        const sk = typeof k === "bigint" ? k.toString() : vmJson(k);
        if (!vals.has(sk)) keys.push(sk);
        vals.set(sk, vmJson(x));
      }
      return new PyDict(keys.map((k) => [k, vals.get(k)]));
    }
    return v;
  }

  function decodedJson(data) {
    if (!data.length) return null;
    try {
      return vmJson(decodeValue(data));
    } catch (e) {
      return null;
    }
  }

  class PyDict {
    constructor(entries) {
      this.entries = entries;
    }
  }

  function pyStr(s) {
    let out = '"';
    for (const ch of s) {
      const c = ch.codePointAt(0);
      if (ch === '"') out += '\\"';
      else if (ch === "\\") out += "\\\\";
      else if (ch === "\n") out += "\\n";
      else if (ch === "\r") out += "\\r";
      else if (ch === "\t") out += "\\t";
      else if (ch === "\b") out += "\\b";
      else if (ch === "\f") out += "\\f";
      else if (c < 0x20 || (c > 0x7e && c <= 0xffff)) out += "\\u" + c.toString(16).padStart(4, "0");
      else if (c > 0xffff) {
        const v = c - 0x10000;
        out += "\\u" + (0xd800 + (v >> 10)).toString(16) + "\\u" + (0xdc00 + (v & 0x3ff)).toString(16);
      } else out += ch;
    }
    return out + '"';
  }

  /** json.dumps(value) as Python prints it (", " and ": " separators, ASCII only). */
  function pyJson(v) {
    if (v === null || v === undefined) return "null";
    if (v === true) return "true";
    if (v === false) return "false";
    if (typeof v === "bigint" || typeof v === "number") return v.toString();
    if (typeof v === "string") return pyStr(v);
    if (Array.isArray(v)) return "[" + v.map(pyJson).join(", ") + "]";
    if (v instanceof PyDict) return "{" + v.entries.map(([k, x]) => pyStr(k) + ": " + pyJson(x)).join(", ") + "}";
    return pyStr(String(v));
  }

  /** repr() of a JSON value as Python prints it (strings in quotes). */
  function pyRepr(v) {
    if (typeof v === "string") {
      const q = v.includes("'") && !v.includes('"') ? '"' : "'";
      let out = q;
      for (const ch of v) {
        const c = ch.codePointAt(0);
        if (ch === q || ch === "\\") out += "\\" + ch;
        else if (ch === "\n") out += "\\n";
        else if (ch === "\r") out += "\\r";
        else if (ch === "\t") out += "\\t";
        else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
        else out += ch;
      }
      return out + q;
    }
    if (v === null || v === undefined) return "None";
    if (v === true) return "True";
    if (v === false) return "False";
    if (Array.isArray(v)) return "[" + v.map(pyRepr).join(", ") + "]";
    if (typeof v === "object") {
      return "{" + Object.entries(v).map(([k, x]) => pyRepr(k) + ": " + pyRepr(x)).join(", ") + "}";
    }
    return String(v);
  }

  // ------------------------------------------------------------ chain types (model)

  const NAME_RE = /^[a-z][a-z0-9_.\-]{0,31}$/;
  const ADDR_RE = /^[0-9a-f]{40}$/;
  const METHOD_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
  const CHAIN_RE = /^[A-Za-z0-9_.\-]{1,64}$/;
  const MAX_TX_BYTES = 256 * 1024;
  const MAX_ARGS_BYTES = MAX_TX_BYTES - 1024;

  const isBytes = (v) => v instanceof Uint8Array;
  const isInt = (v) => typeof v === "bigint";

  function wantList(v, n, what) {
    if (!Array.isArray(v) || v.length !== n) throw new Malformed(`${what}: expected an array of ${n} items`);
    return v;
  }

  function wantInt(v, what, lo = 0n, hi = U64) {
    if (!isInt(v) || v < lo || v > hi) throw new Malformed(`${what}: expected an integer in [${lo}, ${hi}]`);
    return v;
  }

  function wantBytes(v, what, size, maxLen = 16 * 1024 * 1024) {
    if (!isBytes(v)) throw new Malformed(`${what}: expected bytes`);
    if (size !== undefined && size !== null && v.length !== size) {
      throw new Malformed(`${what}: expected ${size} bytes, got ${v.length}`);
    }
    if (v.length > maxLen) throw new Malformed(`${what}: longer than ${maxLen} bytes`);
    return v;
  }

  function wantText(v, what, maxLen = 256) {
    wantBytes(v, what, null, maxLen);
    try {
      return utf8Strict.decode(v);
    } catch (e) {
      throw new Malformed(`${what}: not utf-8`);
    }
  }

  const ascii = (b) => String.fromCharCode(...b);

  function decodeTx(data, suite) {
    if (data.length > MAX_TX_BYTES) throw new Malformed(`transaction larger than ${MAX_TX_BYTES} bytes`);
    const f = wantList(unpack(data, { size: MAX_TX_BYTES }), 9, "transaction");
    const [cid, sender, nonce, limit, contract, method, args, gas, sig] = f;
    if (![cid, sender, contract, method, args, sig].every(isBytes) || ![nonce, limit, gas].every(isInt)) {
      throw new Malformed("transaction: a field has the wrong type");
    }
    const chainId = ascii(cid);
    if (!CHAIN_RE.test(chainId)) throw new Malformed("chain_id: 1-64 chars of [A-Za-z0-9_.-]");
    if (sender.length !== 65 || sender[0] !== 4) throw new Malformed("sender: expected an uncompressed public key 04||x||y");
    wantInt(nonce, "nonce");
    wantInt(limit, "block_limit");
    const contractS = ascii(contract);
    if (!NAME_RE.test(contractS) && !ADDR_RE.test(contractS)) {
      throw new Malformed("contract: a name [a-z][a-z0-9_.-]* or a 40-hex address");
    }
    const methodS = ascii(method);
    if (!METHOD_RE.test(methodS)) throw new Malformed("method: an identifier of at most 64 chars");
    wantBytes(args, "args", null, MAX_ARGS_BYTES);
    wantInt(gas, "gas_limit", 1n, 1000000000n);
    wantBytes(sig, "signature", 64);
    if (!equal(pack(f), data)) throw new Malformed("transaction: not in canonical encoding");
    const payload = concat(new Uint8Array([0x98]), data.subarray(1, data.length - 66));
    return {
      chainId, sender, nonce, blockLimit: limit, contract: contractS, method: methodS, args,
      gasLimit: gas, signature: sig, payload, hash: suite.hash(payload),
    };
  }

  function decodeReceipt(data) {
    const f = wantList(unpack(data), 6, "receipt");
    if (!Array.isArray(f[4]) || f[4].length > 1024) throw new Malformed("receipt: bad events");
    const events = f[4].map((ev) => {
      const e = wantList(ev, 3, "event");
      return {
        contract: wantBytes(e[0], "event.contract", null, 64),
        name: wantText(e[1], "event.name", 256),
        fields: wantBytes(e[2], "event.fields"),
      };
    });
    const r = {
      txHash: wantBytes(f[0], "tx_hash", 32),
      status: wantInt(f[1], "status", 0n, 255n),
      gasUsed: wantInt(f[2], "gas_used"),
      returnValue: wantBytes(f[3], "return_value"),
      events,
      error: wantText(f[5], "error", 4 * 512),
    };
    const again = pack([r.txHash, r.status, r.gasUsed, r.returnValue,
      events.map((e) => [e.contract, utf8.encode(e.name), e.fields]), utf8.encode(r.error)]);
    if (!equal(again, data)) throw new Malformed("receipt: not in canonical encoding");
    r.ok = r.status === 0n;
    return r;
  }

  function headerFromList(v) {
    // 8 fields, or 9 when the header carries a state checkpoint [height, root, chunks, entries]
    if (!Array.isArray(v) || (v.length !== 8 && v.length !== 9)) {
      throw new Malformed("header: expected an array of 8 or 9 items");
    }
    const f = v;
    const h = {
      height: wantInt(f[0], "height"),
      prevHash: wantBytes(f[1], "prev_hash", 32),
      txRoot: wantBytes(f[2], "tx_root", 32),
      receiptsRoot: wantBytes(f[3], "receipts_root", 32),
      stateRoot: wantBytes(f[4], "state_root", 32),
      timestamp: wantInt(f[5], "timestamp"),
      proposer: wantBytes(f[6], "proposer", null, 65),
      view: wantInt(f[7], "view"),
      checkpoint: null,
    };
    if (f.length === 9) {
      const c = wantList(f[8], 4, "checkpoint");
      h.checkpoint = {
        height: wantInt(c[0], "checkpoint.height"),
        root: wantBytes(c[1], "checkpoint.root", 32),
        chunks: wantInt(c[2], "checkpoint.chunks"),
        entries: wantInt(c[3], "checkpoint.entries"),
      };
      const cp = h.checkpoint;
      if (cp.chunks > cp.entries || (cp.entries > 0n) !== (cp.chunks > 0n)) {
        throw new Malformed("checkpoint: chunks must be 1..entries (0 for an empty state)");
      }
      if (cp.height >= h.height) throw new Malformed("checkpoint: its height must be below the header's");
    }
    if (h.proposer.length !== 0 && h.proposer.length !== 65) {
      throw new Malformed("proposer: expected a 65-byte public key");
    }
    h.list = f;
    return h;
  }

  const MAX_CERTIFICATE = 64 + 256 * 256;

  function decodeCertificate(data) {
    const item = unpack(data, { size: MAX_CERTIFICATE, bin: MAX_CERTIFICATE, str: 1024, array: 4 * 256 + 16, map: 0 });
    if (!Array.isArray(item) || item.length !== 4 || !Array.isArray(item[3])) {
      throw new Malformed("certificate must be [height, view, hash, [[key, sig]...]]");
    }
    const [height, view, blockHash, entries] = item;
    if (!isInt(height) || height < 0n || height > (1n << 63n) - 1n) throw new Malformed("height out of range");
    if (!isInt(view) || view < 0n || view > (1n << 31n) - 1n) throw new Malformed("view out of range");
    if (!isBytes(blockHash) || blockHash.length !== 32) throw new Malformed("block hash must be 32 bytes");
    if (!entries.length || entries.length > 256) throw new Malformed("certificate needs 1..MAX_VALIDATORS signatures");
    let last = new Uint8Array(0);
    const signatures = entries.map((e) => {
      if (!Array.isArray(e) || e.length !== 2) throw new Malformed("certificate entry must be [key, signature]");
      const [k, s] = e;
      if (!isBytes(k) || k.length !== 65 || k[0] !== 4) throw new Malformed("signer must be a 65-byte uncompressed key");
      if (!isBytes(s) || !s.length || s.length > 128) throw new Malformed("bad signature length");
      if (compare(k, last) <= 0) throw new Malformed("certificate signers must be distinct and sorted");
      last = k;
      return [k, s];
    });
    if (!equal(pack(item), data)) throw new Malformed("non-canonical certificate encoding");
    return { height, view, blockHash, signatures };
  }

  const DOMAIN = utf8.encode("chainnode/consensus/v1");

  function commitSigningBytes(chainId, height, view, blockHash) {
    return pack([DOMAIN, chainId, 3n, height, view, blockHash]);
  }

  function quorumSize(n) {
    return n - Math.floor((n - 1) / 3);
  }

  // Merkle paths (crypto/merkle.py): leaf H(0||x), inner H(1||l||r), root H(2||n64||top).
  function merkleVerify(hash, root, leaf, path) {
    if (!(path.index >= 0 && path.index < path.leafCount)) return false;
    let node = hash(concat(new Uint8Array([0]), leaf));
    let pos = path.index;
    let width = path.leafCount;
    let used = 0;
    while (width > 1) {
      const partner = pos ^ 1;
      if (partner < width) {
        if (used >= path.siblings.length) return false;
        const sib = path.siblings[used++];
        node = hash(concat(new Uint8Array([1]), pos & 1 ? sib : node, pos & 1 ? node : sib));
      }
      pos = Math.floor(pos / 2);
      width = Math.floor((width + 1) / 2);
    }
    if (used !== path.siblings.length) return false;
    return equal(hash(concat(new Uint8Array([2]), fromInt(BigInt(path.leafCount), 8), node)), root);
  }

  // ------------------------------------------------------------------------ genesis

  const STANDARD_CONTRACTS = ["evidence", "traceability", "records"];
  const CONSENSUS_DEFAULTS = [
    ["block_interval_ms", 200, 0, 3600000],
    ["max_block_txs", 2000, 1, 100000],
    ["request_timeout_ms", 4000, 1, 3600000],
    ["view_change_timeout_ms", 4000, 1, 3600000],
    ["block_limit_window", 1000, 1, 1000000],
    ["max_block_bytes", 4 * 1024 * 1024, 64 * 1024, 64 * 1024 * 1024],
  ];

  function fromHex(v, what, size, maxLen) {
    if (typeof v !== "string") throw new ProofError(`genesis: ${what}: expected a hex string`);
    const s = v.startsWith("0x") || v.startsWith("0X") ? v.slice(2) : v;
    if (maxLen && s.length > 2 * maxLen) throw new ProofError(`genesis: ${what}: longer than ${maxLen} bytes`);
    let b;
    try {
      b = unhex(s);
    } catch (e) {
      throw new ProofError(`genesis: ${what}: not hex`);
    }
    if (size && b.length !== size) throw new ProofError(`genesis: ${what}: expected ${size} bytes, got ${b.length}`);
    return b;
  }

  function validatorFromJson(o) {
    if (!o || typeof o !== "object" || Array.isArray(o)) throw new ProofError("genesis: validator: expected an object");
    for (const k of ["public_key", "node_id", "p2p_addr", "api_addr"]) {
      if (!(k in o)) throw new ProofError(`genesis: validator: missing field ${k}`);
    }
    const v = { publicKey: fromHex(o.public_key, "validator public_key", 65) };
    if (v.publicKey[0] !== 4) throw new ProofError("genesis: validator public_key: expected 65 bytes 04||x||y");
    for (const [k, name] of [["node_id", "nodeId"], ["p2p_addr", "p2pAddr"], ["api_addr", "apiAddr"]]) {
      if (typeof o[k] !== "string" || [...o[k]].length > 256) {
        throw new ProofError(`genesis: ${k}: expected a string of at most 256 chars`);
      }
      v[name] = o[k];
    }
    return v;
  }

  const validatorList = (v) => [v.publicKey, utf8.encode(v.nodeId), utf8.encode(v.p2pAddr), utf8.encode(v.apiAddr)];

  /** [num, den, ttl] of genesis.governance, checked as GovernanceParams does. */
  function governanceList(g) {
    const keys = g && typeof g === "object" && !Array.isArray(g) ? Object.keys(g).sort() : [];
    if (keys.join(",") !== "admin_threshold,proposal_ttl_blocks") {
      throw new ProofError("genesis: governance: an object of admin_threshold and proposal_ttl_blocks");
    }
    const m = typeof g.admin_threshold === "string" ? /^([0-9]+)\/([0-9]+)$/.exec(g.admin_threshold) : null;
    if (!m) throw new ProofError('genesis: governance: admin_threshold: a fraction like "2/3"');
    const num = Number(m[1]), den = Number(m[2]), ttl = g.proposal_ttl_blocks;
    if (!(den >= 1 && den <= 1000) || !(num >= 1 && num <= den) || 2 * num <= den) {
      throw new ProofError("genesis: governance: admin_threshold out of range");
    }
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 1000000000) {
      throw new ProofError("genesis: proposal_ttl_blocks: expected an integer in [1, 1000000000]");
    }
    return [BigInt(num), BigInt(den), BigInt(ttl)];
  }

  /** The chain's genesis.json (the only input trusted): parsed and hashed as chainnode does. */
  function parseGenesis(text) {
    let o;
    try {
      o = JSON.parse(text);
    } catch (e) {
      throw new ProofError(`genesis: not valid JSON (${e.message})`);
    }
    if (!o || typeof o !== "object" || Array.isArray(o)) throw new ProofError("genesis: expected a JSON object");
    for (const k of ["chain_id", "validators", "admins"]) {
      if (!(k in o)) throw new ProofError(`genesis: missing field ${k}`);
    }
    if (typeof o.chain_id !== "string" || !CHAIN_RE.test(o.chain_id)) {
      throw new ProofError("genesis: chain_id: 1-64 chars of [A-Za-z0-9_.-]");
    }
    const suiteName = "suite" in o ? o.suite : "sm";
    const suite = SUITES[suiteName];
    if (!suite || typeof suiteName !== "string") throw new ProofError("genesis: suite: one of ('sm', 'ecdsa-p256')");
    const permissions = "permissions" in o ? o.permissions : "open";
    if (permissions !== "open" && permissions !== "closed") throw new ProofError("genesis: permissions: one of ('open', 'closed')");
    if (!Array.isArray(o.validators) || !Array.isArray(o.admins)) throw new ProofError("genesis: validators and admins must be lists");
    const validators = o.validators.map(validatorFromJson);
    if (!validators.length) throw new ProofError("genesis: validators: at least one");
    const admins = o.admins.map((a) => fromHex(a, "admin", 65));
    if (!admins.length) throw new ProofError("genesis: admins: at least one");
    const dup = (keys) => new Set(keys.map(hex)).size !== keys.length;
    if (dup(validators.map((v) => v.publicKey))) throw new ProofError("genesis: validators: duplicate public key");
    if (dup(admins)) throw new ProofError("genesis: admins: duplicate public key");
    for (const k of [...validators.map((v) => v.publicKey), ...admins]) {
      if (parsePoint(suite.curve, k) === null) {
        throw new ProofError(`genesis: key ${hex(k).slice(0, 16)}...: not a ${suiteName} public key`);
      }
    }
    const cons = "consensus" in o ? o.consensus : {};
    if (!cons || typeof cons !== "object" || Array.isArray(cons)) throw new ProofError("genesis: consensus: expected an object");
    const known = [
      ...CONSENSUS_DEFAULTS.map((d) => d[0]), "max_block_gas", "max_tx_gas", "snapshot_interval", "snapshot_lag",
    ];
    const extra = Object.keys(cons).filter((k) => !known.includes(k));
    if (extra.length) throw new ProofError(`genesis: consensus: unknown fields ${pyRepr(extra.sort())}`);
    const params = CONSENSUS_DEFAULTS.map(([k, dflt, lo, hi]) => {
      const v = k in cons ? cons[k] : dflt;
      if (!Number.isInteger(v) || v < lo || v > hi) throw new ProofError(`genesis: ${k}: expected an integer in [${lo}, ${hi}]`);
      return BigInt(v);
    });
    // The gas limits came later: absent from an older genesis (and from its encoding), both
    // written when either is given (ConsensusParams.__post_init__).
    if ("max_block_gas" in cons || "max_tx_gas" in cons) {
      const block = "max_block_gas" in cons ? cons.max_block_gas : 25000000;
      const tx = "max_tx_gas" in cons ? cons.max_tx_gas : Math.min(10000000, block);
      for (const [k, v] of [["max_block_gas", block], ["max_tx_gas", tx]]) {
        if (!Number.isInteger(v) || v < 1000 || v > 1000000000) {
          throw new ProofError(`genesis: ${k}: expected an integer in [1000, 1000000000]`);
        }
      }
      if (tx > block) throw new ProofError("genesis: consensus: max_tx_gas above max_block_gas");
      params.push(BigInt(block), BigInt(tx));
    }
    // State checkpoints came later still: absent, none (and the encoding stays); present, both
    // are encoded after the gas limits, written out then too (ConsensusParams._check_snapshots).
    if ("snapshot_interval" in cons || "snapshot_lag" in cons) {
      const interval = "snapshot_interval" in cons ? cons.snapshot_interval : DEFAULT_SNAPSHOT_INTERVAL;
      const lag = "snapshot_lag" in cons ? cons.snapshot_lag
        : Number.isInteger(interval) && interval > 0 ? Math.min(DEFAULT_SNAPSHOT_LAG, interval) : DEFAULT_SNAPSHOT_LAG;
      if (!Number.isInteger(interval) || interval < 0 || interval > 1000000000) {
        throw new ProofError("genesis: snapshot_interval: expected an integer in [0, 1000000000]");
      }
      if (!Number.isInteger(lag) || lag < 1 || lag > 1000000) {
        throw new ProofError("genesis: snapshot_lag: expected an integer in [1, 1000000]");
      }
      if (interval && lag > interval) throw new ProofError("genesis: consensus: snapshot_lag above snapshot_interval");
      if (params.length === CONSENSUS_DEFAULTS.length) params.push(25000000n, 10000000n);
      params.push(BigInt(interval), BigInt(lag));
    }
    const contracts = "contracts" in o ? o.contracts : STANDARD_CONTRACTS;
    if (!Array.isArray(contracts) || !contracts.every((c) => typeof c === "string")) {
      throw new ProofError("genesis: contracts: a list of names");
    }
    for (const c of contracts) {
      if (!STANDARD_CONTRACTS.includes(c)) throw new ProofError(`genesis: contracts: unknown standard contract ${pyRepr(c)}`);
    }
    const timestamp = "timestamp" in o ? o.timestamp : 0;
    if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new ProofError("genesis: timestamp: expected a non-negative integer");
    const code = o.code;
    if (code === undefined || code === null) {
      throw new ProofError(
        "genesis: this genesis.json pins no contract code (an older format); the browser cannot " +
          "compile it: check this bundle with `chainnode verify-proof` instead",
      );
    }
    const names = new Set(Object.keys(code || {}));
    if (typeof code !== "object" || Array.isArray(code) || names.size !== contracts.length || !contracts.every((c) => names.has(c))) {
      throw new ProofError("genesis: code: an object with the bytecode (hex) of each listed contract");
    }
    const codes = contracts.map((c) => fromHex(code[c], `code.${c}`, null, 64 * 1024));
    const fields = [
      utf8.encode(o.chain_id), utf8.encode(suiteName), validators.map(validatorList), admins,
      utf8.encode(permissions), params, contracts.map((c) => utf8.encode(c)), BigInt(timestamp), codes,
    ];
    // The governance parameters came later: absent from an older genesis and its encoding.
    if ("governance" in o) fields.push(governanceList(o.governance));
    const encoded = pack(fields);
    return { chainId: o.chain_id, suite, validators, admins, hash: suite.hash(encoded) };
  }

  // ------------------------------------------------------------------ bundle parsing

  const HEX_RE = /^[0-9a-f]*$/;

  function bHex(v, what, size, maxLen = MAX_BUNDLE_BYTES) {
    if (typeof v !== "string" || v.length % 2 || v.length > 2 * maxLen || !HEX_RE.test(v)) {
      throw new ProofError(`${what}: expected lowercase hex`);
    }
    const b = unhex(v);
    if (size !== undefined && b.length !== size) throw new ProofError(`${what}: expected ${size} bytes, got ${b.length}`);
    return b;
  }

  function bKeys(obj, keys, what) {
    if (!obj || typeof obj !== "object" || Array.isArray(obj)) throw new ProofError(`${what}: expected an object`);
    const have = Object.keys(obj);
    const extra = have.filter((k) => !keys.includes(k)).sort();
    const missing = keys.filter((k) => !have.includes(k)).sort();
    if (extra.length || missing.length) {
      throw new ProofError(`${what}: unexpected fields ${pyRepr(extra)}, missing ${pyRepr(missing)}`);
    }
    return obj;
  }

  function bInt(v, what) {
    if (!Number.isSafeInteger(v) || v < 0) throw new ProofError(`${what}: expected a non-negative integer`);
    return v;
  }

  function bPath(obj, what) {
    const o = bKeys(obj, ["index", "leaf_count", "siblings"], what);
    const sibs = o.siblings;
    if (!Array.isArray(sibs) || sibs.length > 64) throw new ProofError(`${what}: siblings must be a list of at most 64 hashes`);
    const index = bInt(o.index, `${what}.index`);
    const count = bInt(o.leaf_count, `${what}.leaf_count`);
    if (index >= count) throw new ProofError(`${what}: index ${index} outside a tree of ${count} leaves`);
    return { index, leafCount: count, siblings: sibs.map((s, i) => bHex(s, `${what}.siblings[${i}]`, 32)) };
  }

  const INCLUSION_KEYS = ["tx", "receipt", "tx_path", "receipt_path", "header", "certificate"];

  function bInclusion(obj, what) {
    const o = bKeys(obj, INCLUSION_KEYS, what);
    return {
      tx: bHex(o.tx, `${what}: tx`),
      receipt: bHex(o.receipt, `${what}: receipt`),
      txPath: bPath(o.tx_path, `${what}: tx path`),
      receiptPath: bPath(o.receipt_path, `${what}: receipt path`),
      header: bHex(o.header, `${what}: header`, undefined, 4096),
      certificate: bHex(o.certificate, `${what}: certificate`, undefined, 1 << 20),
    };
  }

  /** Strictly parse a bundle's JSON text (as chainnode.proofs.bundle.parse_bundle). */
  function parseBundle(text) {
    if (text.length > MAX_BUNDLE_BYTES) throw new ProofError(`bundle: larger than ${MAX_BUNDLE_BYTES} bytes`);
    let obj;
    try {
      obj = JSON.parse(text);
    } catch (e) {
      throw new ProofError(`bundle: not valid JSON (${e.message})`);
    }
    const o = bKeys(obj, ["format", "chain_id", "genesis_hash", "record", "validators", "governance"], "bundle");
    if (o.format !== FORMAT) throw new ProofError(`bundle: format ${pyRepr(o.format)}, this verifier reads ${pyRepr(FORMAT)}`);
    if (typeof o.chain_id !== "string" || o.chain_id.length > 64) throw new ProofError("bundle: chain_id must be a string");
    if (!Array.isArray(o.validators) || !(o.validators.length > 0 && o.validators.length <= MAX_VALIDATORS)) {
      throw new ProofError("validator set: expected a non-empty list");
    }
    if (!Array.isArray(o.governance) || o.governance.length > MAX_GOVERNANCE) {
      throw new ProofError(`governance: expected a list of at most ${MAX_GOVERNANCE} proofs`);
    }
    return {
      chainId: o.chain_id,
      genesisHash: bHex(o.genesis_hash, "bundle: genesis_hash", 32),
      record: bInclusion(o.record, "record"),
      validators: o.validators.map((v, i) => bHex(v, `validator set[${i}]`, undefined, 2048)),
      governance: o.governance.map((g, i) => bInclusion(g, `governance proof #${i}`)),
    };
  }

  // ------------------------------------------------------------------------ verifying

  function verifyCertificate(what, chainId, header, blockHash, cert, validators) {
    const overHeader = commitSigningBytes(chainId, header.height, cert.view, blockHash);
    const good = cert.signatures.filter(([k, s]) => sm2Verify(k, overHeader, s)).map(([k]) => k);
    const same = cert.height === header.height && equal(cert.blockHash, blockHash);
    if (good.length < cert.signatures.length) {
      const own = commitSigningBytes(chainId, cert.height, cert.view, cert.blockHash);
      if (!same && cert.signatures.every(([k, s]) => sm2Verify(k, own, s))) {
        throw new ProofError(
          `${what}: header: block ${hex(blockHash).slice(0, 16)} at height ${header.height} is ` +
            `not the block the certificate signs (${hex(cert.blockHash).slice(0, 16)} at height ` +
            `${cert.height}): the header was altered`,
        );
      }
      const bad = cert.signatures.find(([k]) => !good.includes(k))[0];
      if (good.length && !same) throw new ProofError(`${what}: certificate: its height or block hash field was altered`);
      throw new ProofError(
        `${what}: certificate: the signature of ${hex(bad).slice(0, 18)}… does not verify (the certificate was altered)`,
      );
    }
    if (!same) throw new ProofError(`${what}: certificate: its height or block hash field was altered`);
    const members = new Map(validators.map((v) => [hex(v.publicKey), v]));
    for (const k of good) {
      if (!members.has(hex(k))) {
        throw new ProofError(`${what}: certificate: signer ${hex(k).slice(0, 18)}… is not a validator at height ${header.height}`);
      }
    }
    const need = quorumSize(members.size);
    if (good.length < need) {
      throw new ProofError(
        `${what}: certificate: ${good.length} signatures, a quorum of the ${members.size} validators at height ${header.height} is ${need}`,
      );
    }
    return good.map((k) => members.get(hex(k)));
  }

  function malformed(what, part, e) {
    if (!(e instanceof Malformed)) throw e;
    return new ProofError(`${what}: ${part}: malformed (${e.message})`);
  }

  function verifyInclusion(what, inc, chainId, suite, validatorsAt) {
    let tx, receipt, header, cert;
    try {
      tx = decodeTx(inc.tx, suite);
    } catch (e) {
      throw malformed(what, "tx", e);
    }
    if (tx.chainId !== chainId) throw new ProofError(`${what}: tx: signed for chain ${pyRepr(tx.chainId)}, not ${pyRepr(chainId)}`);
    if (!suite.verify(tx.sender, tx.payload, tx.signature)) {
      throw new ProofError(`${what}: tx: the sender's signature does not verify (tx altered)`);
    }
    try {
      receipt = decodeReceipt(inc.receipt);
    } catch (e) {
      throw malformed(what, "receipt", e);
    }
    if (!equal(receipt.txHash, tx.hash)) throw new ProofError(`${what}: receipt: it is the receipt of another transaction`);
    try {
      header = headerFromList(unpack(inc.header));
    } catch (e) {
      throw malformed(what, "header", e);
    }
    if (!equal(pack(header.list), inc.header)) throw new ProofError(`${what}: header: not in canonical encoding (header altered)`);
    try {
      cert = decodeCertificate(inc.certificate);
    } catch (e) {
      throw malformed(what, "certificate", e);
    }
    const blockHash = suite.hash(inc.header);
    const validators = validatorsAt(header.height);
    const signers = verifyCertificate(what, utf8.encode(chainId), header, blockHash, cert, validators);
    const tp = inc.txPath;
    const rp = inc.receiptPath;
    if (tp.index !== rp.index || tp.leafCount !== rp.leafCount) {
      throw new ProofError(
        `${what}: receipt path: position ${rp.index}/${rp.leafCount} differs from the tx's ${tp.index}/${tp.leafCount} (path altered)`,
      );
    }
    if (!merkleVerify(suite.hash, header.txRoot, tx.hash, tp)) {
      throw new ProofError(
        `${what}: tx path: the Merkle path does not lead from the tx to the block's tx root (path altered, or the tx is not in this block)`,
      );
    }
    if (!merkleVerify(suite.hash, header.receiptsRoot, inc.receipt, rp)) {
      throw new ProofError(
        `${what}: receipt path: the Merkle path does not lead from the receipt to the block's receipts root (the receipt or its path was altered)`,
      );
    }
    return { tx, receipt, header, index: tp.index, blockHash, certificate: cert, signers, validators };
  }

  function isGovernance(contract, suite) {
    if (contract === GOVERNANCE) return true;
    // well_known_address(hash, name) = hash(b"chainnode:" + name)[-20:]
    return contract === hex(suite.hash(utf8.encode("chainnode:" + GOVERNANCE)).subarray(12));
  }

  const pyLen = (s) => [...s].length;

  function applyChange(vs, tx, what) {
    let args;
    try {
      args = decodeValue(tx.args, MAX_ARGS_BYTES);
      if (!Array.isArray(args)) throw new Malformed("args: expected a list");
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      throw new ProofError(`${what}: tx: arguments of ${tx.method} do not decode (MALFORMED: args: ${e.message})`);
    }
    const fail = (m) => new ProofError(`${what}: tx: arguments of ${tx.method} do not decode (${m})`);
    const pub = args[0];
    if (!isBytes(pub) || pub.length !== 65) throw fail(args.length ? "public key" : "list index out of range");
    const key = hex(pub);
    const rest = vs.filter((v) => hex(v.publicKey) !== key);
    if (tx.method !== "add_validator") return rest;
    if (args.length < 4) throw fail("list index out of range");
    if (pub[0] !== 4) throw fail("validator public_key: expected 65 bytes 04||x||y");
    for (let i = 1; i < 4; i++) {
      if (typeof args[i] !== "string" || pyLen(args[i]) > 256) throw fail("validator field: expected a string of <= 256 chars");
    }
    return [...rest, { publicKey: pub, nodeId: args[1], p2pAddr: args[2], apiAddr: args[3] }];
  }

  function peekHeight(inc, what) {
    try {
      return headerFromList(unpack(inc.header)).height;
    } catch (e) {
      throw malformed(what, "header", e);
    }
  }

  /** Check a bundle (JSON text) against a parsed genesis; throws ProofError naming the part. */
  function verifyBundle(text, genesis) {
    const b = parseBundle(text);
    if (b.chainId !== genesis.chainId) {
      throw new ProofError(`bundle: for chain ${pyRepr(b.chainId)}, the genesis is ${pyRepr(genesis.chainId)}`);
    }
    if (!equal(b.genesisHash, genesis.hash)) {
      throw new ProofError("bundle: made for another genesis of this chain (genesis hash differs)");
    }
    const suite = genesis.suite;
    const history = [[0n, genesis.validators]];
    const validatorsAt = (height) => {
      for (let i = history.length - 1; i >= 0; i--) if (history[i][0] <= height) return history[i][1];
      throw new ProofError("no validator set");
    };
    const recordHeight = peekHeight(b.record, "record");
    const changes = [];
    let last = [-1n, -1];
    b.governance.forEach((inc, i) => {
      const what = `governance proof #${i}`;
      const p = verifyInclusion(what, inc, genesis.chainId, suite, validatorsAt);
      const pos = [p.header.height, inc.txPath.index];
      if (pos[0] < last[0] || (pos[0] === last[0] && pos[1] <= last[1])) {
        throw new ProofError(`${what}: out of chain order (or repeated)`);
      }
      last = pos;
      if (p.header.height >= recordHeight) throw new ProofError(`${what}: at height ${p.header.height}, not before the record`);
      if (!(isGovernance(p.tx.contract, suite) && VSET_METHODS.includes(p.tx.method))) {
        throw new ProofError(`${what}: tx: ${p.tx.contract}.${p.tx.method} is no validator change`);
      }
      if (!p.receipt.ok || !equal(p.receipt.returnValue, new Uint8Array([0xc3]))) {
        throw new ProofError(`${what}: receipt: the change did not apply (vote not decisive)`);
      }
      const eff = p.header.height + 1n;
      const next = applyChange(history[history.length - 1][1], p.tx, what);
      if (history[history.length - 1][0] === eff) history[history.length - 1] = [eff, next];
      else history.push([eff, next]);
      changes.push(p);
    });
    const record = verifyInclusion("record", b.record, genesis.chainId, suite, validatorsAt);
    const derived = validatorsAt(record.header.height).map((v) => pack(validatorList(v)));
    if (derived.length !== b.validators.length || !derived.every((d, i) => equal(d, b.validators[i]))) {
      throw new ProofError(
        `validator set: the bundle's set at height ${record.header.height} is not the one derived from genesis and the proven governance changes`,
      );
    }
    return { record, changes, chainId: genesis.chainId, suite };
  }

  // ----------------------------------------------------------------------- presenting

  function when(ms) {
    const d = new Date(Number(ms));
    const p = (n, w = 2) => String(n).padStart(w, "0");
    return `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
      `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(Number(ms % 1000n), 3)} UTC`;
  }

  const names = (vs) => vs.map((v) => v.nodeId || hex(v.publicKey).slice(0, 16)).join(", ");

  function argsOf(tx) {
    try {
      const v = decodeValue(tx.args, MAX_ARGS_BYTES);
      return Array.isArray(v) ? v : null;
    } catch (e) {
      return null;
    }
  }

  /** The same text as chainnode.proofs.bundle.describe. */
  function describe(p) {
    const suite = p.suite;
    const r = p.record;
    const tx = r.tx;
    const rc = r.receipt;
    const args = pyJson(decodedJson(tx.args));
    const lines = [
      `VALID: proven on chain ${pyRepr(p.chainId)} from its genesis alone.`,
      `  transaction   ${hex(tx.hash)}`,
      `  sender        0x${hex(address(suite, tx.sender))} (public key ${hex(tx.sender).slice(0, 24)}…)`,
      `  call          ${/^[0-9a-f]{40}$/.test(tx.contract) ? "0x" + tx.contract : tx.contract}.${tx.method}(${args.slice(1, -1)})`,
      `  committed in  block ${r.header.height} (${hex(r.blockHash)}) at ${when(r.header.timestamp)}, position ${r.index}`,
      `  result        ${rc.ok ? "ok" : "failed: " + rc.error}` +
        (rc.returnValue.length ? `, returned ${pyJson(decodedJson(rc.returnValue))}` : ""),
    ];
    for (const ev of rc.events) lines.push(`  event         ${ev.name} ${pyJson(decodedJson(ev.fields))}`);
    lines.push(
      `  signed by     ${r.signers.length} of ${r.validators.length} validators (view ${r.certificate.view}): ${names(r.signers)}`,
    );
    if (p.changes.length) {
      lines.push(`  validator set derived through ${p.changes.length} proven governance change(s):`);
      for (const c of p.changes) {
        const a = argsOf(c.tx) || [];
        const who = c.tx.method === "add_validator" && a.length > 1 ? a[1] : hex(a[0]).slice(0, 16);
        lines.push(
          `    block ${c.header.height}: ${c.tx.method} ${who}, voted by admin ` +
            `0x${hex(address(suite, c.tx.sender))}, certified by ${c.signers.length} validators: ${names(c.signers)}`,
        );
      }
    } else {
      lines.push("  validator set: the genesis set (no change before this block)");
    }
    return lines.join("\n");
  }

  /** Verify bundle text against genesis text: {valid, report} where report is what
   * `chainnode verify-proof` prints (its VALID text, or "INVALID: reason"). */
  function check(bundleText, genesisText) {
    let genesis;
    try {
      genesis = typeof genesisText === "string" ? parseGenesis(genesisText) : genesisText;
    } catch (e) {
      if (!(e instanceof ProofError)) throw e;
      return { valid: false, report: `error: ${e.message}`, genesisError: true };
    }
    try {
      const proven = verifyBundle(bundleText, genesis);
      return { valid: true, report: describe(proven), proven };
    } catch (e) {
      if (!(e instanceof ProofError)) throw e;
      return { valid: false, report: `INVALID: ${e.message}`, reason: e.message };
    }
  }

  // ---------------------------------------------------------------------- the page

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== false && v !== null && v !== undefined) e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function readFile(file) {
    return new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(new Uint8Array(r.result));
      r.onerror = () => reject(new Error(`cannot read ${file.name}`));
      r.readAsArrayBuffer(file);
    });
  }

  /** SM3 and SHA-256 of a file, read in slices (never uploaded anywhere). */
  async function hashFile(file, onProgress) {
    const a = sm3Hasher();
    const b = sha256Hasher();
    const step = 4 * 1024 * 1024;
    for (let off = 0; off < file.size || off === 0; off += step) {
      const part = await readFile(file.slice(off, off + step));
      a.update(part);
      b.update(part);
      if (onProgress) onProgress(Math.min(1, (off + step) / Math.max(file.size, 1)));
      if (file.size === 0) break;
    }
    return { sm3: hex(a.digest()), sha256: hex(b.digest()) };
  }

  function dropZone(label, accept, onFile, id) {
    const input = el("input", { type: "file", accept, id, class: "visually-hidden" });
    input.addEventListener("change", () => input.files[0] && onFile(input.files[0]));
    const zone = el("label", { class: "drop", for: id, tabindex: "0", role: "button" }, label, input);
    zone.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        input.click();
      }
    });
    zone.addEventListener("dragover", (ev) => {
      ev.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (ev) => {
      ev.preventDefault();
      zone.classList.remove("over");
      if (ev.dataTransfer.files[0]) onFile(ev.dataTransfer.files[0]);
    });
    return zone;
  }

  const GENESIS_KEY = "chainnode.genesis";

  /** The "Verify a record" page into `host`. online: fetch bundles from the serving node. */
  function mount(host, opts) {
    const online = !!(opts && opts.online);
    const state = { genesisText: null, genesis: null, bundleText: null, doc: null, source: "" };
    try {
      state.genesisText = localStorage.getItem(GENESIS_KEY);
    } catch (e) {
      state.genesisText = null;
    }
    const genesisInfo = el("p", { class: "muted", id: "genesis-info", "aria-live": "polite" });
    const docInfo = el("p", { class: "muted", id: "doc-info", "aria-live": "polite" });
    const fetchInfo = el("p", { class: "muted", id: "fetch-info", "aria-live": "polite" });
    const verdict = el("div", { id: "verdict", class: "verdict", role: "status", "aria-live": "polite" });
    const report = el("pre", { id: "report", class: "report", tabindex: "0" });
    const save = el("button", { type: "button", id: "save-bundle", hidden: true }, "Save this bundle");
    const hashInput = el("input", {
      id: "tx-hash", type: "text", inputmode: "latin", autocomplete: "off", spellcheck: "false",
      placeholder: "64 hex digits", "aria-label": "transaction hash", pattern: "(0x)?[0-9a-fA-F]{64}",
    });

    function setGenesis(text, from) {
      try {
        state.genesis = parseGenesis(text);
      } catch (e) {
        state.genesis = null;
        genesisInfo.className = "error";
        genesisInfo.textContent = `${from}: ${e.message}. Use the genesis.json of your chain (from \`chainnode network init\`).`;
        return false;
      }
      state.genesisText = text;
      try {
        localStorage.setItem(GENESIS_KEY, text);
      } catch (e) {
        /* private mode or a file:// origin that stores nothing: fine */
      }
      forget.hidden = false;
      genesisInfo.className = "ok";
      genesisInfo.textContent = `Trusted genesis: chain ${state.genesis.chainId}, suite ${state.genesis.suite.name}, ` +
        `${state.genesis.validators.length} validators, hash ${hex(state.genesis.hash).slice(0, 16)}… (${from})`;
      run();
      return true;
    }

    function docCheck(proven) {
      if (!state.doc) return null;
      const tx = proven.record.tx;
      const a = argsOf(tx);
      const arg = a && typeof a[0] === "string" ? a[0].toLowerCase().replace(/^0x/, "") : null;
      const which = arg === state.doc.sm3 ? "SM3" : arg === state.doc.sha256 ? "SHA-256" : null;
      if (which) return [true, `The document ${state.doc.name} (${which} ${arg}) is the one this record registers.`];
      return [false, `The document ${state.doc.name} is NOT the one this record registers ` +
        `(its SM3 is ${state.doc.sm3}, SHA-256 ${state.doc.sha256}; the record's argument is ${arg || "none"}).`];
    }

    function run() {
      verdict.className = "verdict";
      verdict.textContent = "";
      report.textContent = "";
      if (!state.bundleText) return;
      if (!state.genesis) {
        verdict.className = "verdict warn";
        verdict.textContent = "Add the chain's genesis.json to verify (it is the only thing trusted).";
        return;
      }
      const t0 = performance.now();
      const res = check(state.bundleText, state.genesis);
      const ms = Math.round(performance.now() - t0);
      let valid = res.valid;
      let text = res.report;
      if (res.valid) {
        const d = docCheck(res.proven);
        if (d) {
          text += "\n  document      " + d[1];
          valid = d[0];
        }
      }
      verdict.className = "verdict " + (valid ? "valid" : "invalid");
      verdict.textContent = (res.valid ? (valid ? "VALID" : "VALID record, but not of this document") : "INVALID") +
        ` — checked in this browser in ${ms} ms${state.source ? ", " + state.source : ""}`;
      report.textContent = text;
      host.dispatchEvent(new CustomEvent("verified", { detail: { valid: res.valid, report: res.report } }));
    }

    function setBundle(text, source) {
      state.bundleText = text;
      state.source = source;
      save.hidden = !text;
      run();
    }

    async function fetchJson(url, init) {
      let resp;
      try {
        resp = await fetch(url, init);
      } catch (e) {
        throw new Error("cannot reach the node; check that it is running and reachable, then retry");
      }
      const body = await resp.text();
      let data = null;
      try {
        data = JSON.parse(body);
      } catch (e) {
        data = null;
      }
      if (!resp.ok) {
        const msg = data && data.error ? data.error.message : `HTTP ${resp.status}`;
        const err = new Error(msg);
        err.status = resp.status;
        throw err;
      }
      return [data, body];
    }

    async function fetchBundle(txHash, why) {
      const h = txHash.trim().toLowerCase().replace(/^0x/, "");
      if (!/^[0-9a-f]{64}$/.test(h)) {
        fetchInfo.className = "error";
        fetchInfo.textContent = "A transaction hash is 64 hex digits (an optional 0x is fine).";
        return;
      }
      fetchInfo.className = "muted";
      fetchInfo.textContent = `Fetching the proof bundle of ${h}…`;
      try {
        const [, body] = await fetchJson(`v1/proofs/${h}`);
        fetchInfo.className = "ok";
        fetchInfo.textContent = `Fetched the proof bundle of ${h} from this node${why ? " (" + why + ")" : ""}. ` +
          "It is checked here against your genesis file, not trusted.";
        setBundle(body, "bundle fetched from this node");
      } catch (e) {
        fetchInfo.className = "error";
        fetchInfo.textContent = e.status === 404
          ? `This node has no committed transaction ${h}: check the hash, or wait until it is committed and retry.`
          : `Could not fetch the bundle: ${e.message}.`;
      }
    }

    async function onDocument(file) {
      docInfo.className = "muted";
      docInfo.textContent = `Hashing ${file.name} in this browser (it is not uploaded)…`;
      const h = await hashFile(file, (f) => {
        docInfo.textContent = `Hashing ${file.name} in this browser (it is not uploaded)… ${Math.round(f * 100)}%`;
      });
      state.doc = { name: file.name, sm3: h.sm3, sha256: h.sha256 };
      docInfo.className = "ok";
      docInfo.textContent = `${file.name}: SM3 ${h.sm3} · SHA-256 ${h.sha256}`;
      if (!online) {
        run();
        return;
      }
      for (const [alg, digest] of [["SM3", h.sm3], ["SHA-256", h.sha256]]) {
        try {
          const [res] = await fetchJson("v1/call", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ contract: "evidence", method: "get", args: [digest] }),
          });
          if (res && res.ok && res.result && res.result.tx) {
            await fetchBundle(res.result.tx, `registered by its ${alg} hash`);
            return;
          }
        } catch (e) {
          fetchInfo.className = "error";
          fetchInfo.textContent = `Could not look the document up: ${e.message}. Paste its transaction hash instead.`;
          return;
        }
      }
      fetchInfo.className = "error";
      fetchInfo.textContent = "No evidence record holds this document's SM3 or SHA-256 hash on this chain. " +
        "If it was registered elsewhere, open its proof bundle file instead.";
      run();
    }

    const genesisZone = dropZone("Drop genesis.json here, or press Enter to choose it", ".json,application/json", async (f) => {
      setGenesis(utf8Strict.decode(await readFile(f)), f.name);
    }, "genesis-file");
    const forget = el("button", { type: "button", class: "secondary", onclick: () => {
      try {
        localStorage.removeItem(GENESIS_KEY);
      } catch (e) {
        /* nothing stored */
      }
      state.genesis = null;
      state.genesisText = null;
      forget.hidden = true;
      genesisInfo.className = "muted";
      genesisInfo.textContent = "No genesis yet.";
      run();
    }, hidden: true }, "Forget this genesis");
    const bundleZone = dropZone("Drop a proof bundle (.json) here, or press Enter to choose it", ".json,application/json", async (f) => {
      let text;
      try {
        text = utf8Strict.decode(await readFile(f));
      } catch (e) {
        text = "\u0000";
      }
      fetchInfo.textContent = "";
      setBundle(text, `bundle file ${f.name}`);
    }, "bundle-file");
    const docZone = dropZone("Drop the document here, or press Enter to choose it", "", onDocument, "doc-file");
    save.addEventListener("click", () => {
      const a = el("a", { href: URL.createObjectURL(new Blob([state.bundleText], { type: "application/json" })), download: "proof-bundle.json" });
      document.body.append(a);
      a.click();
      a.remove();
    });

    const fetchForm = el("form", { class: "row", onsubmit: (ev) => {
      ev.preventDefault();
      fetchBundle(hashInput.value);
    } }, hashInput, el("button", { type: "submit", id: "fetch-bundle" }, "Fetch and verify"));

    host.replaceChildren(
      el("section", { class: "card" },
        el("h2", {}, "1. The chain's genesis (trusted)"),
        el("p", { class: "muted" }, "The only input trusted. It stays in this browser."),
        genesisZone, el("div", { class: "row" }, forget), genesisInfo),
      el("section", { class: "card" },
        el("h2", {}, "2. The record"),
        online ? el("div", {},
          el("label", { for: "tx-hash" }, "Transaction hash"), fetchForm, fetchInfo) :
          el("p", { class: "muted" }, "No node here (opened from disk): open the proof bundle file, " +
            "saved with `chainnode proof TX --out bundle.json` or the console's \"Save this bundle\"."),
        el("h3", {}, "Or a bundle file"), bundleZone,
        el("h3", {}, "And/or the document"),
        el("p", { class: "muted" }, "Hashed here with SM3 and SHA-256, never uploaded." +
          (online ? " Its evidence record is looked up by hash." : "")),
        docZone, docInfo),
      el("section", { class: "card" }, el("h2", {}, "3. Verdict"), verdict, report, save),
    );
    if (state.genesisText) setGenesis(state.genesisText, "remembered in this browser");
    else {
      genesisInfo.textContent = "No genesis yet.";
    }
    return { fetchBundle, setBundle, setGenesis, state };
  }

  if (typeof document !== "undefined") {
    // verify.html: mount the standalone page; online only when a node served it
    const boot = () => {
      const host = document.getElementById("verifier");
      if (host && host.dataset.mount === "standalone") {
        mount(host, { online: location.protocol === "http:" || location.protocol === "https:" });
      }
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
    else boot();
  }

  root.ChainnodeVerify = {
    sm3, sha256, sm3Hasher, sha256Hasher, sm2Verify, p256Verify, hex, unhex, pack, unpack,
    decodeValue, vmJson, pyJson, decodeCertificate, decodeTx, decodeReceipt, headerFromList,
    parseGenesis, parseBundle, verifyBundle, describe, check, mount, hashFile, address, SUITES,
    ProofError, Malformed,
  };
})(typeof window !== "undefined" ? window : globalThis);
