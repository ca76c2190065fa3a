#!/usr/bin/env node
'use strict';
// The sessionfence adapter (protocol 2) for fence.js: JSON Lines on stdin/stdout.
//
//   sessionfence replay --adapter "node examples/adapter-js/adapter.js" traces/
//
// One request per line, one answer per line; logs go to stderr. The write
// section is driven through the callback API, controller.withLock(body):
// begin_write starts withLock and keeps its body waiting on a deferred
// promise; each later section request (read_before, append) resolves that
// promise, and finish_write lets the body return, so that withLock itself
// validates and publishes. See docs/adapter-protocol.md, "Callback-style APIs".

const fs = require('node:fs');
const readline = require('node:readline');
const { SessionController, SessionTakeoverError, Registry, statFingerprint, digestFingerprint } = require('./fence.js');

const STEPS = ['start', 'release', 'reacquire', 'begin_write', 'read_before', 'append', 'finish_write', 'dispose'];
const MODES = ['publish', 'broad', 'cleanup'];
const PAUSES = ['begin_write', 'read_before', 'append'];
const EXPOSES = ['fence', 'before', 'reg_fp', 'reg_epoch', 'reg_gen', 'next_epoch', 'k_epoch', 'k_gen', 'mode'];

let session = null; // { transcript, digest, ctrls: Map name -> entry, appends }

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

// -- holding withLock's callback open across requests ----------------------------

async function beginWrite(entry, mode) {
  const entered = deferred();
  entry.next = deferred(); // resolved by the next section request of this controller
  const done = entry.ctrl.withLock(async (section) => {
    entered.resolve();
    for (;;) {
      const { op, settle } = await entry.next.promise;
      entry.next = deferred();
      if (op === 'finish_write') return; // withLock validates and publishes now
      try {
        if (op === 'read_before') await section.readBefore();
        else await section.append(`{"by":"${entry.name}","n":${++session.appends}}\n`);
        settle(null);
      } catch (err) {
        settle(err);
        throw err; // leaves the body: withLock sees the section already ended
      }
    }
  }, { mode });
  entry.done = done;
  done.catch(() => {}).finally(() => { if (entry.done === done) entry.next = null; });
  // ok once the body runs; a takeover at begin_write rejects `done` first
  await Promise.race([entered.promise, done]);
}

async function sectionStep(entry, op) {
  if (!entry.next) throw new Error(`${op}: ${entry.name} has no open write section (phase ${entry.ctrl.phase})`);
  const result = deferred();
  entry.next.resolve({ op, settle: (err) => (err ? result.reject(err) : result.resolve()) });
  await (op === 'finish_write' ? entry.done : result.promise);
}

// -- requests ---------------------------------------------------------------------

function observe() {
  const ctrls = [...session.ctrls.values()].map((e) => [e.name, e.ctrl]);
  const per = (f) => Object.fromEntries(ctrls.map(([name, c]) => [name, f(c)]));
  const file = session.digest ? digestFingerprint(session.transcript)[0] : statFingerprint(session.transcript);
  const reg = ctrls[0][1].reg;
  return {
    phases: per((c) => c.phase),
    holder: ctrls.filter(([, c]) => c.holdsLock).map(([name]) => name).join('+') || 'none',
    lock_file: fs.lstatSync(`${ctrls[0][1].path}.lock`, { throwIfNoEntry: false }) !== undefined,
    fingerprint: file.token,
    state: {
      fence: per((c) => c.fence?.token ?? null),
      before: per((c) => c.section?.before?.token ?? null),
      k_epoch: per((c) => c.kEpoch),
      k_gen: per((c) => c.kGen),
      mode: per((c) => c.section?.mode ?? 'none'),
      reg_epoch: reg.epoch, reg_gen: reg.gen, reg_fp: reg.fp?.token ?? null, next_epoch: reg.nextEpoch,
    },
  };
}

function setup(req) {
  const names = req.controllers;
  if (!Array.isArray(names) || names.length === 0 || names.some((n, i) => n !== `c${i + 1}`)) {
    return { error: 'setup: controllers must be ["c1", ..., "cN"]' };
  }
  if (req.policy !== 'reference') return { error: `setup: policy ${req.policy} not supported (reference)` };
  if (!['stat', 'digest'].includes(req.fingerprint)) return { error: 'setup: fingerprint must be stat or digest' };
  teardown();
  const registry = new Registry(); // a fresh registry per trace
  const options = { fingerprint: req.fingerprint, registry, lockTimeoutMs: 0 };
  session = { transcript: req.transcript, digest: req.fingerprint === 'digest', ctrls: new Map(), appends: 0 };
  for (const name of names) {
    session.ctrls.set(name, { name, ctrl: new SessionController(req.transcript, { ...options, name }), next: null });
  }
  return observe();
}

async function step(req) {
  const entry = session?.ctrls.get(req.controller);
  if (!entry) return { error: `${req.op}: unknown controller ${req.controller}${session ? '' : ' (no setup yet)'}` };
  if (req.op === 'begin_write' && !MODES.includes(req.mode)) return { error: 'begin_write: mode must be publish, broad or cleanup' };
  const c = entry.ctrl;
  let outcome = 'ok';
  let detail = '';
  try {
    switch (req.op) {
      case 'start': await c.start(); break;
      case 'release': await c.releaseForPrompt(); break;
      case 'reacquire': await c.reacquireAfterPrompt(); break;
      case 'begin_write': await beginWrite(entry, req.mode); break;
      case 'dispose': await c.dispose(); break;
      default: await sectionStep(entry, req.op);
    }
  } catch (err) {
    [outcome, detail] = err instanceof SessionTakeoverError
      ? ['takeover', `${err.check} check: ${err.reason}`]
      : ['error', `${err.name}: ${err.message}`];
  }
  return { outcome, phase: c.phase, ...observe(), ...(detail ? { detail } : {}) };
}

function teardown() {
  for (const { ctrl } of session?.ctrls.values() ?? []) ctrl.abandon();
  session = null;
  return { ok: true };
}

async function handle(req) {
  if (req === null || typeof req !== 'object' || typeof req.op !== 'string') return { error: "a request is a JSON object with a string 'op'" };
  switch (req.op) {
    case 'hello':
      if (req.protocol !== 2) return { error: `protocol ${req.protocol} not supported; this adapter speaks 2` };
      return {
        protocol: 2,
        implementation: `examples/adapter-js fence.js (node ${process.version})`,
        policies: ['reference'],
        fingerprint_modes: ['stat', 'digest'],
        pause_points: { publish: PAUSES, broad: PAUSES, cleanup: PAUSES },
        derived: [],
        exposes: EXPOSES,
      };
    case 'setup': return setup(req);
    case 'observe': return session ? observe() : { error: 'observe before setup' };
    case 'teardown': return teardown();
    default:
      if (STEPS.includes(req.op)) return step(req);
      return { error: `unknown op ${req.op}` };
  }
}

async function main() {
  // One request at a time: the loop awaits each answer before reading on.
  for await (const line of readline.createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    let answer;
    try {
      answer = await handle(JSON.parse(line));
    } catch (err) {
      answer = { error: `${err.name}: ${err.message}` };
    }
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  }
  teardown(); // EOF: the runner is done
}

main();
