import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { listModelFiles } from '../../src/models/local-files.js';
import { buildPipeline, TINY_SD15 } from '../../tools/model-builder/pipeline.js';
import { startFakeHub, type FakeHub } from '../helpers/fake-hub.js';
import { oneLine, runCli, spawnServe, type ServeProcess } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { tempHome } from '../helpers/temp-home.js';
import { listFiles } from '../helpers/test-server.js';

const REPO = 'org/fleet-onnx';
const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

interface HostResult {
  host: string;
  address: string;
  ok: boolean;
  error?: string;
  result?: { name: string; filesSent: number; filesSkipped: number; files: { remote: string; sent: boolean }[] };
}

/**
 * Three hosts of one fleet (built binary, real TLS servers in their own processes): `has` already
 * holds the model, `lacks` does not, `down` answers nothing. The servers share one install home,
 * so one CA signs both certificates (as a fleet's servers share a CA), each with its own models
 * directory.
 */
describe('dts-util models upload / pull --remote to several --host', () => {
  const home = tempHome();
  const source = path.join(home.home, 'src', 'fleet');
  const modelsOf = (name: string) => path.join(home.home, `models-${name}`);
  const servers: ServeProcess[] = [];
  let has: string;
  let lacks: string;
  let down: string;
  let hub: FakeHub;
  before(async () => {
    await buildPipeline(source, TINY_SD15, { seed: 8 });
    fs.cpSync(source, path.join(modelsOf('has'), 'fleet'), { recursive: true });
    fs.mkdirSync(modelsOf('lacks'));
    // One after the other: the first creates the install's CA, the second uses it.
    for (const name of ['has', 'lacks']) servers.push(await spawnServe(['--model-path', modelsOf(name)], home.env));
    has = `127.0.0.1:${servers[0]!.port}`;
    lacks = `127.0.0.1:${servers[1]!.port}`;
    down = `127.0.0.1:${await freePort()}`;
    hub = await startFakeHub(REPO, source);
  });
  after(async () => {
    for (const s of servers) s.child.kill('SIGKILL');
    await Promise.all(servers.map((s) => s.exited));
    await hub.close();
    home.cleanup();
  });

  it('upload: skips the host that has the model, uploads to the one that lacks it, reports the down one and exits 1 naming it', async () => {
    const { code, stdout, stderr } = await runCli(['models', 'upload', source, '--host', has, '--host', `${lacks},${down}`, '--json'], home.env);
    assert.equal(code, 1, stderr);
    const results = JSON.parse(stdout) as HostResult[];
    assert.deepEqual(results.map((r) => [r.host, r.ok]), [[has, true], [lacks, true], [down, false]]);
    const files = listModelFiles(source).length;
    assert.deepEqual([results[0]!.result!.filesSent, results[0]!.result!.filesSkipped], [0, files], 'the host that has it is sent nothing');
    assert.deepEqual([results[1]!.result!.filesSent, results[1]!.result!.filesSkipped], [files, 0]);
    assert.match(results[2]!.error!, /dts-util serve/);
    for (const f of listModelFiles(source)) assert.equal(sha(path.join(modelsOf('lacks'), 'fleet', f.relative)), sha(f.local), f.relative);
    assert.match(oneLine(stderr), new RegExp(`the upload failed on 1 of 3 hosts: ${down.replaceAll('.', '\\.')} \\(`));
    assert.ok(!stderr.includes(has) && !stderr.includes(lacks), 'only the failed host is named as failed');
  });

  it('upload, read by a person: one line per host, the failed one saying why', async () => {
    const { code, stdout, stderr } = await runCli(['models', 'upload', source, '--host', `${has},${down},${lacks}`], home.env);
    assert.equal(code, 1, stderr);
    assert.match(stdout, new RegExp(`^${has}: fleet: sent 0 files .*skipped ${listModelFiles(source).length} already on the server`, 'm'));
    assert.match(stdout, new RegExp(`^${down}: FAILED: .*dts-util serve`, 'm'));
    assert.match(stdout, new RegExp(`^${lacks}: fleet: sent 0 files`, 'm'), 'the host after the failed one was still done');
  });

  it('one --host keeps the single-server shape: the result object, exit 0', async () => {
    const { code, stdout, stderr } = await runCli(['models', 'upload', source, '--host', lacks, '--json'], home.env);
    assert.equal(code, 0, stderr);
    assert.equal(JSON.parse(stdout).filesSent, 0);
  });

  it('pull --remote: downloads once, sends each host what it lacks, keeps the local copy while a host failed, and the re-run finishes', async () => {
    const local = path.join(home.home, 'client-models');
    const pull = (hosts: string) => runCli(['models', 'pull', REPO, '--endpoint', hub.endpoint, '--remote', '--as', 'pulled', '--host', hosts, '--model-path', local, '--json'], home.env);
    fs.cpSync(source, path.join(modelsOf('has'), 'pulled'), { recursive: true });
    const first = await pull(`${has},${lacks},${down}`);
    assert.equal(first.code, 1, first.stderr);
    const result = JSON.parse(first.stdout) as { name: string; files: { path: string; downloaded: boolean }[]; hosts: HostResult[] };
    assert.equal(result.name, 'pulled');
    assert.deepEqual(result.hosts.map((h) => [h.host, h.ok, h.result?.filesSent]), [[has, true, 0], [lacks, true, result.files.length], [down, false, undefined]]);
    for (const f of result.files) assert.equal(sha(path.join(modelsOf('lacks'), 'pulled', f.path)), sha(path.join(source, f.path)), f.path);
    assert.match(oneLine(first.stderr), new RegExp(`failed on 1 of 3 hosts: ${down.replaceAll('.', '\\.')} .*the download is kept`));
    assert.notDeepEqual(listFiles(local), [], 'the local copy stays for the host that lacks it');

    const requests = hub.requests.length;
    const again = await pull(`${has},${lacks}`);
    assert.equal(again.code, 0, again.stderr);
    const rerun = JSON.parse(again.stdout) as { files: { downloaded: boolean }[]; hosts: HostResult[] };
    assert.ok(rerun.files.every((f) => !f.downloaded), 'nothing is downloaded again');
    assert.ok(!hub.requests.slice(requests).some((r) => r.url.startsWith('/cdn/')));
    assert.deepEqual(rerun.hosts.map((h) => [h.ok, h.result?.filesSent]), [[true, 0], [true, 0]]);
    assert.deepEqual(listFiles(local), [], 'every host has it: the local copy is gone');
  });

  it('pull refuses --host without --remote (exit 2)', async () => {
    const { code, stderr } = await runCli(['models', 'pull', REPO, '--endpoint', hub.endpoint, '--host', has], home.env);
    assert.equal(code, 2);
    assert.match(oneLine(stderr), /--host is for --remote/);
  });
});
