import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import * as ort from 'onnxruntime-node';

import { modelResidentBytes } from '../../src/diffusion/memory-estimate.js';
import { sizeOnDisk } from '../../src/diffusion/model-inventory.js';
import { isOptimizerCache, optimizedPart, optimizedPaths } from '../../src/diffusion/optimized-graphs.js';
import { DataType, GraphBuilder } from '../../tools/model-builder/onnx-graph.js';
import { runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';
import { installTinyModels } from '../helpers/tiny-models.js';

describe('optimized graphs, cached beside each part (real files, the real optimizer)', () => {
  const home = tempHome();
  const modelsDir = path.join(home.home, 'models');
  const unet = path.join(modelsDir, 'tiny-sd15', 'unet', 'model.onnx');
  before(() => installTinyModels(modelsDir, { sd15: 'tiny-sd15' }));
  after(() => home.cleanup());

  it('makes the optimized graph once, then reuses it while the source stays the same file', async () => {
    const model = path.join(modelsDir, 'tiny-sd15');
    const costs = [modelResidentBytes(model), sizeOnDisk(model)];
    const first = optimizedPart(unet, 'cpu');
    assert.equal(first.cached, false);
    assert.equal(first.file, optimizedPaths(unet, 'cpu').graph);
    assert.ok((first.fused.MultiHeadAttention ?? 0) > 0, JSON.stringify(first));
    const session = await ort.InferenceSession.create(first.file, { executionProviders: ['cpu'] });
    await session.release();
    const again = optimizedPart(unet, 'cpu');
    assert.deepEqual(again, { ...first, cached: true });
    // Named so that clients cannot write or ask for it (UploadFile refuses the name).
    assert.ok(isOptimizerCache(path.basename(first.file)) && isOptimizerCache(path.basename(optimizedPaths(unet, 'cpu').record)));
    assert.ok(!isOptimizerCache('model.onnx') && !isOptimizerCache('.model.onnx_data'));
    // The cache is not the model's: its size and memory cost stay those of its own files.
    assert.deepEqual([modelResidentBytes(model), sizeOnDisk(model)], costs);
  });

  it('makes it again when the source file changes (an upload replaced it)', () => {
    const before = fs.statSync(optimizedPaths(unet, 'cpu').graph).mtimeMs;
    const replacement = `${unet}.new`;
    fs.copyFileSync(unet, replacement);
    fs.renameSync(replacement, unet); // a new inode, as UploadFile's rename gives
    const remade = optimizedPart(unet, 'cpu');
    assert.equal(remade.cached, false);
    assert.ok(fs.statSync(remade.file).mtimeMs >= before);
  });

  it('leaves a part with nothing to fuse exactly as it is, and remembers that', () => {
    // A graph without attention: y = x + x.
    const g = new GraphBuilder('no-attention');
    const x = g.input('x', DataType.FLOAT, [4]);
    g.alias(g.node('Add', [x, x]), 'y');
    g.output('y', DataType.FLOAT, [4]);
    const copy = path.join(home.home, 'plain', 'vae_decoder', 'model.onnx');
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    fs.writeFileSync(copy, g.encode());
    assert.deepEqual(optimizedPart(copy, 'webgpu'), { file: copy, source: copy, fused: {}, cached: false });
    assert.deepEqual(optimizedPart(copy, 'webgpu'), { file: copy, source: copy, fused: {}, cached: true });
    assert.ok(!fs.existsSync(optimizedPaths(copy, 'webgpu').graph));
  });

  it('runs a part whose optimized graph cannot be written as it is, and says why', () => {
    const dir = path.join(home.home, 'blocked', 'unet');
    fs.mkdirSync(dir, { recursive: true });
    const source = path.join(dir, 'model.onnx');
    fs.copyFileSync(unet, source);
    // Something else holds the name (root writes everywhere, so a read-only folder proves nothing here).
    fs.mkdirSync(path.join(optimizedPaths(source, 'cuda').graph, 'in-the-way'), { recursive: true });
    const part = optimizedPart(source, 'cuda');
    assert.equal(part.file, source);
    assert.deepEqual(part.fused, {});
    assert.match(part.skipped ?? '', /^its optimized graph cannot be written beside it \((EISDIR|ENOTEMPTY|EEXIST)\)$/);
  });

  it('models optimize reports each part as JSON, and a second run finds them cached', async () => {
    const args = ['models', 'optimize', 'tiny-sd15', '--device', 'webgpu', '--model-path', modelsDir, '--json'];
    const { code, stdout, stderr } = await runCli(args, home.env);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout) as { model: string; device: string; parts: { part: string; source: string; optimized: string; fused: Record<string, number>; cached: boolean }[] };
    assert.deepEqual([report.model, report.device], ['tiny-sd15', 'webgpu']);
    assert.deepEqual(report.parts.map((p) => p.part), ['text_encoder', 'unet', 'vae_decoder']);
    const unetReport = report.parts.find((p) => p.part === 'unet')!;
    assert.equal(unetReport.source, unet);
    assert.equal(unetReport.optimized, optimizedPaths(unet, 'webgpu').graph);
    assert.ok(unetReport.fused.MultiHeadAttention! > 0);
    const again = JSON.parse((await runCli(args, home.env)).stdout) as typeof report;
    assert.ok(again.parts.every((p) => p.cached));
    const text = await runCli(['models', 'optimize', 'tiny-sd15', '--device', 'webgpu', '--model-path', modelsDir], home.env);
    assert.match(text.stdout, /^unet: fused \d+ MultiHeadAttention(, \d+ \w+)* \(cached\) → .*\.model\.dts-util-webgpu\.onnx$/m);
    const missing = await runCli(['models', 'optimize', 'nope', '--model-path', modelsDir], home.env);
    assert.equal(missing.code, 2);
  });
});

