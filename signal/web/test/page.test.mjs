// The page as a whole, without a browser: every module parses, is served (signal/src/web.rs
// lists it) and is imported; every element the DOM code looks up is in index.html; nothing in
// index.html needs what the Content-Security-Policy forbids (inline script, style, handlers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const modules = readdirSync(web).filter((name) => name.endsWith('.js')).sort();
const source = (name) => readFileSync(join(web, name), 'utf8');
const page = source('index.html');

test('every module parses (node --check)', () => {
  for (const name of modules) {
    const run = spawnSync(process.execPath, ['--check', join(web, name)], { encoding: 'utf8' });
    assert.equal(run.status, 0, `${name}: ${run.stderr}`);
  }
});

test('every module is served by signal/src/web.rs and imported by another', () => {
  const rust = readFileSync(join(web, '../src/web.rs'), 'utf8');
  const served = [...rust.matchAll(/\("\/([\w.-]+\.js)", include_str!\("\.\.\/web\/([\w.-]+\.js)"\)\)/g)]
    .map(([, path, file]) => {
      assert.equal(path, file, 'served at its own name');
      return file;
    })
    .sort();
  assert.deepEqual(served, modules);
  const count = rust.match(/const MODULES: \[\(&str, &str\); (\d+)\]/);
  assert.equal(Number(count && count[1]), modules.length, 'the array length');
  const imported = new Set(['main.js']);
  for (const name of modules) {
    for (const [, target] of source(name).matchAll(/ from '\.\/([\w.-]+\.js)'/g)) {
      assert.ok(modules.includes(target), `${name} imports ${target}: no such module`);
      imported.add(target);
    }
  }
  assert.deepEqual([...imported].sort(), modules, 'no module left out');
});

test('every element the DOM code looks up is in index.html, once', () => {
  const ids = new Set();
  for (const name of ['main.js', 'view.js', 'chatview.js', 'filesview.js']) {
    for (const [, id] of source(name).matchAll(/(?:\$|getElementById)\('([\w-]+)'\)/g)) ids.add(id);
  }
  assert.ok(ids.size > 20, `${ids.size} ids found`);
  for (const id of ids) {
    assert.equal(page.split(`id="${id}"`).length - 1, 1, `#${id} in index.html`);
  }
});

test('index.html has nothing inline for the CSP to block', () => {
  assert.equal(page.match(/<script/g).length, 1);
  assert.match(page, /<script type="module" src="main.js"><\/script>/);
  assert.doesNotMatch(page, /<style|\sstyle=|\son[a-z]+=|javascript:/i);
});
