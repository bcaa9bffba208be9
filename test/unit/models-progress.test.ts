import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ProgressLine } from '../../src/models/progress.js';

function terminal(isTTY: boolean): { stream: NodeJS.WriteStream; written: string[] } {
  const written: string[] = [];
  return { written, stream: { isTTY, columns: 200, write: (text: string) => written.push(text) > 0 } as unknown as NodeJS.WriteStream };
}

describe('ProgressLine (the transfer progress bar)', () => {
  it('draws one line in place with the file, its bytes, the total, the speed, and ends it', () => {
    const { stream, written } = terminal(true);
    const line = new ProgressLine(stream);
    line.update({ phase: 'sending', file: 'sd/unet/model.onnx', fileDone: 3 * 2 ** 20, fileSize: 4 * 2 ** 20, done: 3 * 2 ** 20, total: 8 * 2 ** 20 });
    assert.equal(written.length, 1);
    assert.match(written[0]!, /^\rsending sd\/unet\/model.onnx {2}3\.0 MiB\/4\.0 MiB {2}total 3\.0 MiB\/8\.0 MiB \(37%\) {2}[\d.]+ MiB\/s/);
    // Redraws are throttled to a few a second, but a finished file is always shown.
    line.update({ phase: 'sending', file: 'sd/unet/model.onnx', fileDone: 4 * 2 ** 20, fileSize: 4 * 2 ** 20, done: 4 * 2 ** 20, total: 8 * 2 ** 20 });
    assert.match(written.at(-1)!, /4\.0 MiB\/4\.0 MiB {2}total 4\.0 MiB\/8\.0 MiB \(50%\)/);
    line.finish();
    assert.equal(written.at(-1), '\n');
  });

  it('writes plain lines off a terminal: each finished file, and a long file every 30 s', () => {
    const { stream, written } = terminal(false);
    let now = 0;
    const line = new ProgressLine(stream, () => now);
    const update = (fileDone: number) => line.update({ phase: 'downloading', file: 'unet/model.onnx', fileDone, fileSize: 100 * 2 ** 20, done: fileDone, total: 200 * 2 ** 20 });
    now = 1_000;
    update(10 * 2 ** 20);
    assert.equal(written.length, 0, 'nothing mid-file before 30 s');
    now = 31_000;
    update(50 * 2 ** 20);
    now = 32_000;
    update(60 * 2 ** 20);
    now = 40_000;
    update(100 * 2 ** 20);
    line.finish();
    assert.equal(written.length, 2);
    assert.match(written[0]!, /^downloading unet\/model\.onnx {2}50\.0 MiB\/100\.0 MiB {2}total 50\.0 MiB\/200\.0 MiB \(25%\) {2}1\.7 MiB\/s {2}ETA 90 s\n$/);
    assert.match(written[1]!, /^downloading unet\/model\.onnx {2}100\.0 MiB\/100\.0 MiB .*\(50%\)/);
    assert.ok(written.every((text) => !text.includes('\r')));
  });
});
