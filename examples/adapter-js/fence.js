'use strict';
// A small session-file fence in plain Node.js: sessionfence's `reference`
// design (docs/model.md, impl/_policies.py ReferencePolicy) on real files.
//
//   const c = new SessionController('session.jsonl');
//   await c.start();                                   // lock, join or begin an epoch
//   await c.withLock(async (s) => { await s.readBefore(); await s.append('{"x":1}\n'); });
//   await c.releaseForPrompt();                        // check, then let peers write
//   await c.reacquireAfterPrompt();                    // SessionTakeoverError on a foreign edit
//
// Deliberately small. Left out compared with the Python library: stale-lock
// reclaim (a dead holder's lock file stays until removed by hand), rewrites,
// fsync, fork safety, and a digest read that streams instead of loading
// the whole file.

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

// For tests only: FENCE_BUG=no-release-on-takeover keeps the lock after failing closed.
const BUG = process.env.FENCE_BUG || '';
const { O_RDWR, O_RDONLY, O_APPEND, O_CREAT, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

class SessionTakeoverError extends Error {
  constructor(check, reason) {
    super(`session taken over (${check} check): ${reason}`);
    this.name = 'SessionTakeoverError';
    this.check = check;
    this.reason = reason;
  }
}

class LockBusyError extends Error { name = 'LockBusyError'; }

// -- fingerprints: equal tokens = the same file state ----------------------------

const MISSING = Object.freeze({ exists: false, token: 'missing' });

function fromStat(st, digest) {
  const token = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  return { exists: true, dev: st.dev, ino: st.ino, size: st.size, digest,
           token: digest ? `${token}:${digest}` : token };
}

function statOrNull(file) {
  return fs.statSync(file, { bigint: true, throwIfNoEntry: false }) ?? null;
}

function sameStat(a, b) {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size &&
         a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/** [fingerprint, hasher]: the stat fields plus a sha256 of the content. The
 *  hasher is left open, so a writer can extend it with its own bytes. */
function digestFingerprint(file) {
  const st = statOrNull(file);
  if (st === null) return [MISSING, null];
  if (!st.isFile()) return [fromStat(st, null), null]; // never read a FIFO
  let content = null;
  try { content = fs.readFileSync(file, { flag: O_RDONLY | O_NOFOLLOW | O_NONBLOCK }); } catch { /* gone */ }
  const after = statOrNull(file);
  if (content === null || after === null || !sameStat(after, st) || BigInt(content.length) !== st.size) {
    // The file moved under the read: a digest nothing else equals (fail closed).
    return [fromStat(st, `unstable-${crypto.randomUUID()}`), null];
  }
  const hasher = crypto.createHash('sha256').update(content);
  return [fromStat(st, hasher.copy().digest('hex')), hasher];
}

function statFingerprint(file) {
  const st = statOrNull(file);
  return st === null ? MISSING : fromStat(st, null);
}

function explain(expected, found) {
  if (!expected) return 'no fingerprint recorded';
  if (expected.token === found.token) return 'file unchanged (the registry no longer vouches for it)';
  if (!found.exists) return 'file deleted';
  if (!expected.exists) return 'file created';
  if (expected.ino !== found.ino || expected.dev !== found.dev) return 'file replaced (inode changed)';
  if (expected.size !== found.size) return `size changed ${expected.size} -> ${found.size}`;
  return 'content or metadata changed in place (same size)';
}

// -- the registry: per session file, the latest state reached by validated owned writes

class Registry {
  constructor() { this.files = new Map(); }
  fileState(file) {
    if (!this.files.has(file)) this.files.set(file, { epoch: 0, gen: 0, fp: null, nextEpoch: 1 });
    return this.files.get(file);
  }
}
const defaultRegistry = new Registry();

// -- the session write lock: `<transcript>.lock`, O_EXCL, plus an in-process table

const heldInProcess = new Map(); // lock path -> the SessionLock holding it

class SessionLock {
  constructor(transcript) {
    this.path = `${transcript}.lock`;
    this.token = crypto.randomUUID();
    this.held = false;
  }

  tryAcquire() {
    if (heldInProcess.has(this.path)) throw new LockBusyError(`${this.path}: held by another controller of this process`);
    let fd;
    try {
      fd = fs.openSync(this.path, 'wx', 0o600); // O_CREAT|O_EXCL: never follows a symlink
    } catch (err) {
      throw err.code === 'EEXIST' ? new LockBusyError(`${this.path}: held by another process`) : err;
    }
    try {
      fs.writeSync(fd, `${JSON.stringify({ pid: process.pid, token: this.token, createdAt: Date.now() })}\n`);
    } finally {
      fs.closeSync(fd);
    }
    heldInProcess.set(this.path, this);
    this.held = true;
  }

  async acquire(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try { return this.tryAcquire(); } catch (err) {
        if (!(err instanceof LockBusyError) || Date.now() >= deadline) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  release() {
    if (!this.held) return;
    this.held = false;
    heldInProcess.delete(this.path);
    try { // unlink only a lock file that is still ours
      if (JSON.parse(fs.readFileSync(this.path, 'utf8')).token === this.token) fs.unlinkSync(this.path);
    } catch { /* gone or unreadable: not ours to remove */ }
  }
}

// -- controllers: one per attempt, the model's steps as methods ------------------

class SessionController {
  constructor(transcript, { fingerprint = 'stat', registry = defaultRegistry, name = '', lockTimeoutMs = 10000 } = {}) {
    const abs = path.resolve(transcript);
    this.path = path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs));
    this.name = name;
    this.digest = fingerprint === 'digest';
    this.lock = new SessionLock(this.path);
    this.lockTimeoutMs = lockTimeoutMs;
    this.reg = registry.fileState(this.path);
    this.phase = 'idle';
    this.fence = null; // the file state this controller knows to be good
    this.kEpoch = 0;   // the registry epoch and generation it knows
    this.kGen = 0;
    this.section = null; // { mode, took, before, hasher, ours }
    this.fd = -1;
    this.takeover = null;
  }

  get holdsLock() { return this.lock.held; }

  async start() {
    this.enter('start', ['idle']);
    await this.lock.acquire(this.lockTimeoutMs);
    const now = this.openAligned();
    const reg = this.reg;
    if (reg.epoch !== 0 && reg.fp?.token === now.token) { // join the epoch
      [this.kEpoch, this.kGen] = [reg.epoch, reg.gen];
    } else { // begin a new epoch at the current file
      Object.assign(reg, { epoch: reg.nextEpoch, gen: 0, fp: now, nextEpoch: reg.nextEpoch + 1 });
      [this.kEpoch, this.kGen] = [reg.epoch, 0];
    }
    this.fence = now;
    this.phase = 'held';
  }

  async releaseForPrompt() {
    this.enter('release', ['held']);
    this.checkAndAccept('release');
    this.lock.release();
    this.phase = 'released';
  }

  async reacquireAfterPrompt() {
    this.enter('reacquire', ['released']);
    await this.lock.acquire(this.lockTimeoutMs);
    this.checkAndAccept('reacquire');
    this.phase = 'held';
  }

  /** Open a write section; from `released` this takes the lock for it. */
  async beginWrite(mode = 'publish') {
    if (!['publish', 'broad', 'cleanup'].includes(mode)) throw new Error(`unknown write mode ${mode}`);
    const took = this.enter('begin_write', ['held', 'released']) === 'released';
    if (took) await this.lock.acquire(this.lockTimeoutMs);
    this.checkAndAccept('begin_write');
    this.section = new WriteSection(this, mode, took);
    this.phase = 'write_before';
    return this.section;
  }

  /** The everyday API: run `body(section)` inside a write section. The body
   *  calls section.readBefore() and section.append(line); finish_write (the
   *  validation and publication) runs when the body's promise resolves. */
  async withLock(body, { mode = 'publish' } = {}) {
    const section = await this.beginWrite(mode);
    let result;
    try {
      result = await body(section);
    } catch (err) {
      await this.completeAfterError(section);
      throw err;
    }
    if (this.section === section) {
      if (this.phase === 'write_before') await section.readBefore();
      if (this.phase === 'write_append') await section.append('');
      await section.finishWrite();
    }
    return result;
  }

  /** A validated append of one record. */
  append(record) {
    return this.withLock(async (s) => { await s.readBefore(); await s.append(`${JSON.stringify(record)}\n`); });
  }

  async dispose() {
    this.enter('dispose', ['idle', 'held', 'released']);
    this.dropResources();
    this.phase = 'done';
  }

  /** Give everything back without a check or a step (the process is going away). */
  abandon() {
    this.dropResources();
    if (this.phase !== 'taken_over') this.phase = 'done';
  }

  // -- internals --------------------------------------------------------------

  enter(step, allowed) {
    if (allowed.includes(this.phase)) return this.phase;
    if (this.takeover) throw this.takeover; // sticky: every later call fails closed too
    throw new Error(`${step} is not allowed in phase ${this.phase} (allowed: ${allowed.join(', ')})`);
  }

  observe() {
    if (!this.digest) return statFingerprint(this.path);
    const [fp, hasher] = digestFingerprint(this.path);
    this.lastHasher = hasher;
    return fp;
  }

  openAligned() { // open (creating under the lock) until fd and path name one inode
    for (let attempt = 0; attempt < 3; attempt++) {
      this.closeFd();
      this.fd = fs.openSync(this.path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600);
      this.fdStat = fs.fstatSync(this.fd, { bigint: true });
      const now = this.observe();
      if (now.exists && now.ino === this.fdStat.ino && now.dev === this.fdStat.dev) return now;
    }
    this.dropResources();
    throw new Error(`${this.path} keeps being replaced while the session starts`);
  }

  registryMatches(now) {
    const reg = this.reg;
    return reg.epoch === this.kEpoch && reg.gen >= this.kGen && reg.fp?.token === now.token;
  }

  /** The fence check: the file is what we know, or the registry of our epoch,
   *  at least as new as what we know, vouches for exactly this file. */
  checkAndAccept(step) {
    // Owned writes here are appends only, so every file this check accepts
    // is on the inode our fd holds (the Python library reopens after an
    // owned rewrite; there are none here).
    const now = this.observe();
    if (now.token !== this.fence?.token && !this.registryMatches(now)) this.fail(step, this.fence, now);
    if (this.registryMatches(now)) [this.kGen, this.fence] = [this.reg.gen, this.reg.fp];
  }

  fail(step, expected, found, reason) {
    this.takeover = new SessionTakeoverError(step, reason || explain(expected, found));
    this.dropResources(BUG === 'no-release-on-takeover');
    this.phase = 'taken_over';
    throw this.takeover;
  }

  async completeAfterError(section) {
    // The body threw with the section open: finish it through the normal
    // steps, so bytes that reached the file are validated, not orphaned.
    try {
      if (this.section === section && this.phase === 'write_before') await section.readBefore();
      if (this.section === section && this.phase === 'write_append') await section.append('');
      if (this.section === section) await section.finishWrite();
    } catch (err) {
      if (!(err instanceof SessionTakeoverError)) throw err; // the takeover is sticky anyway
    }
  }

  closeFd() {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  dropResources(keepLock = false) {
    [this.section, this.lastHasher] = [null, null];
    if (!keepLock) this.lock.release();
    this.closeFd();
  }
}

class WriteSection {
  constructor(controller, mode, took) {
    Object.assign(this, { controller, mode, took, before: null, hasher: null, ours: Buffer.alloc(0) });
  }

  enter(step, phase) {
    const c = this.controller;
    c.enter(step, [phase]);
    if (c.section !== this) throw new Error(`${step}: this section is not the controller's open section`);
    return c;
  }

  /** Observe the file the write will extend; it must be the one we know. */
  async readBefore() {
    const c = this.enter('read_before', 'write_before');
    this.before = c.observe();
    this.hasher = c.lastHasher;
    if (this.before.token !== c.fence?.token) c.fail('read_before', c.fence, this.before);
    c.phase = 'write_append';
  }

  /** One whole line, written with one write() (O_APPEND). */
  async append(line) {
    const c = this.enter('append', 'write_append');
    this.ours = Buffer.from(line);
    const n = this.ours.length ? fs.writeSync(c.fd, this.ours) : 0;
    if (n !== this.ours.length) c.fail('append', this.before, c.observe(), `short write: ${n} of ${this.ours.length} bytes`);
    c.phase = 'write_after';
  }

  /** Validate that the file is exactly before + our bytes and the registry
   *  did not move (compare-and-set), then publish; else fail closed. */
  async finishWrite() {
    const c = this.enter('finish_write', 'write_after');
    const post = c.observe();
    const reason = this.validate(post);
    const reg = c.reg;
    if (reason || reg.epoch !== c.kEpoch || reg.gen !== c.kGen || reg.fp?.token !== this.before.token) {
      c.fail('finish_write', this.before, post, reason || 'the registry moved since read_before (compare-and-set failed)');
    }
    Object.assign(reg, { gen: reg.gen + 1, fp: post });
    [c.kGen, c.fence, c.section] = [reg.gen, post, null];
    if (this.mode === 'cleanup') {
      c.dropResources();
      c.phase = 'done';
    } else if (this.took) {
      c.lock.release();
      c.phase = 'released';
    } else {
      c.phase = 'held';
    }
  }

  validate(post) {
    const { before, ours } = this;
    const fd = this.controller.fdStat;
    if (!post.exists) return 'file deleted during the write';
    if (post.ino !== before.ino || post.dev !== before.dev) return 'file replaced during the write (inode changed)';
    if (post.ino !== fd.ino || post.dev !== fd.dev) return 'our append went to a file the path no longer names';
    const expected = before.size + BigInt(ours.length);
    if (post.size !== expected) return `size is ${post.size}, expected ${expected}: someone else wrote too`;
    const tail = Buffer.alloc(ours.length);
    if (ours.length && (fs.readSync(this.controller.fd, tail, 0, ours.length, before.size) !== ours.length || !tail.equals(ours))) {
      return 'our bytes are not at the tail of the file';
    }
    if (this.controller.digest) {
      const want = this.hasher ? this.hasher.copy().update(ours).digest('hex') : '';
      if (post.digest !== want) return 'content digest differs from before + our bytes';
    }
    return '';
  }
}

module.exports = {
  SessionController, SessionTakeoverError, LockBusyError, Registry, statFingerprint, digestFingerprint,
};
