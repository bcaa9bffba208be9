import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';

import { unaryCall } from '../../src/client/client.js';
import type { ImageGenerationRequest, ImageGenerationResponse } from '../../src/generated/image_generation.js';
import { echo, grpcError, sha256, uploadBytes } from '../helpers/calls.js';
import { request } from '../helpers/requests.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { installTinyModels } from '../helpers/tiny-models.js';
import { waitUntil } from '../helpers/wait.js';

/** One DogStatsD line: name:value|type|#tags. */
interface Sample {
  name: string;
  value: number;
  type: string;
  tags: string[];
}

describe('the server reports DogStatsD metrics for real calls (a UDP socket as the agent)', () => {
  const samples: Sample[] = [];
  const agent = dgram.createSocket('udp4');
  const secret = 'metrics-secret-91';
  let t: TestServer;
  before(async () => {
    agent.on('message', (datagram) => {
      for (const line of datagram.toString('utf8').split('\n')) {
        const match = /^([^:|]+):([^|]+)\|([a-z]+)(?:\|#(.*))?$/.exec(line);
        if (match) samples.push({ name: match[1]!, value: Number(match[2]), type: match[3]!, tags: match[4]?.split(',') ?? [] });
      }
    });
    await new Promise<void>((resolve) => agent.bind(0, '127.0.0.1', resolve));
    process.env.DD_DOGSTATSD_URL = `udp://127.0.0.1:${agent.address().port}`;
    t = await startTestServer({ defaultModel: 'tiny-sd15', maxUploadSize: '1MiB' }, { DTS_UTIL_SHARED_SECRET: secret });
    await installTinyModels(t.settings.modelsDir, { sd15: 'tiny-sd15' });
  });
  after(async () => {
    delete process.env.DD_DOGSTATSD_URL;
    await t.stop();
    agent.close();
  });

  const find = (name: string, ...tags: string[]) => samples.filter((s) => s.name === name && tags.every((tag) => s.tags.includes(tag)));

  it('counts each call once with its method and status, and times it', async () => {
    const c = t.client({ sharedSecret: secret });
    await echo(c);
    await grpcError(echo(t.client()));
    await waitUntil(() => find('dts.grpc.requests', 'code:UNAUTHENTICATED').length > 0);
    const ok = find('dts.grpc.requests', 'method:/drawthings.ImageGenerationService/Echo', 'code:OK');
    assert.equal(ok.length, 1);
    assert.equal(ok[0]!.type, 'c');
    assert.ok(ok[0]!.tags.includes('service:dts-util'));
    assert.equal(find('dts.grpc.request.duration', 'method:/drawthings.ImageGenerationService/Echo', 'code:OK')[0]?.type, 'd');
  });

  it('reports uploads, their bytes and failures', async () => {
    const c = t.client({ sharedSecret: secret });
    const data = crypto.randomBytes(5000);
    await uploadBytes(c, 'ok.bin', data, { sha256: sha256(data) });
    await grpcError(uploadBytes(c, 'bad.bin', data, { sha256: sha256(Buffer.from('x')) }));
    await waitUntil(() => find('dts.upload.failures').length > 0);
    assert.deepEqual(find('dts.upload.bytes', 'result:ok').map((s) => s.value), [5000]);
    assert.equal(find('dts.upload.failures', 'result:failed').length, 1);
  });

  it('reports a generation: images, steps per second, stage times, model load, queue', async () => {
    const c = t.client({ sharedSecret: secret });
    await unaryCall<ImageGenerationRequest, ImageGenerationResponse>(c.service, c.service.generateImage, request({ steps: 3, batchSize: 2 }), 120_000);
    await waitUntil(() => find('dts.images.generated').length > 0 && find('dts.stage.duration', 'stage:png').length > 0);
    assert.deepEqual(find('dts.images.generated', 'model:tiny-sd15').map((s) => s.value), [2]);
    assert.ok(find('dts.sampling.steps_per_second', 'model:tiny-sd15')[0]!.value > 0);
    for (const stage of ['text_encode', 'sampling', 'decode', 'png']) assert.equal(find('dts.stage.duration', `stage:${stage}`).length, 1, stage);
    assert.equal(find('dts.model.load_time', 'model:tiny-sd15').length, 1);
    assert.ok(find('dts.queue.wait').length >= 1);
    assert.ok(find('dts.queue.depth').length >= 1);
    // Each worker's state: busy while the job ran, idle after (the last sample).
    await waitUntil(() => find('dts.worker.busy', 'worker:0').some((s) => s.value === 0));
    assert.ok(find('dts.worker.busy', 'worker:0').some((s) => s.value === 1));
    assert.equal(find('dts.workers.total').at(-1)!.value, 1);
    // …and one log line with the model and device, under the call's request id.
    const line = t.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'generation');
    assert.deepEqual([line?.model, line?.device, line?.images, line?.steps], ['tiny-sd15', 'cpu', 2, 3]);
    assert.ok(t.logs.map((l) => JSON.parse(l)).some((l) => l.msg === 'call' && l.requestId === line.requestId && /GenerateImage$/.test(l.method)));
  });

  it('never puts the secret in a metric', () => {
    assert.ok(samples.length > 0);
    assert.ok(!JSON.stringify(samples).includes(secret));
  });
});
