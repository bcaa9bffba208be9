import { ByteBuffer } from 'flatbuffers';

import { GenerationConfiguration, type SamplerType, type SeedMode } from '../../generated/draw_things_config_generated.js';

/** The app measures sizes in 64-pixel units. */
export const SIZE_UNIT_PX = 64;

/** What dts-util reads of a GenerationConfiguration; sizes in pixels. The rest is listed in docs/draw-things-protocol.md. */
export interface DrawThingsConfiguration {
  width: number;
  height: number;
  seed: number;
  steps: number;
  guidanceScale: number;
  strength: number;
  model: string;
  sampler: SamplerType;
  batchCount: number;
  batchSize: number;
  hiresFix: boolean;
  hiresFixWidth: number;
  hiresFixHeight: number;
  hiresFixStrength: number;
  seedMode: SeedMode;
  clipSkip: number;
  /** Inpainting: pixels of blur at the mask's edge. */
  maskBlur: number;
  /** Features this server does not have, by what the app calls them, when the configuration asks for them. */
  asksFor: string[];
}

/** A configuration that is not a FlatBuffer GenerationConfiguration (the caller answers INVALID_ARGUMENT). */
export class ConfigurationFormatError extends Error {
  override readonly name = 'ConfigurationFormatError';
}

/**
 * ImageGenerationRequest.configuration → the fields used here. Empty bytes are a configuration
 * with every default (the app's own reader does the same). The FlatBuffers runtime does not check
 * a buffer before reading it, so the table's offsets are checked to lie inside the bytes first:
 * a malformed buffer is refused rather than read as garbage.
 */
export function readConfiguration(bytes: Uint8Array): DrawThingsConfiguration {
  const buffer = new ByteBuffer(bytes.length === 0 ? emptyTable() : bytes);
  checkRootTable(buffer);
  const c = GenerationConfiguration.getRootAsGenerationConfiguration(buffer);
  const asksFor: string[] = [];
  // A vector of tables holds a 4-byte offset per entry, so a length the buffer cannot hold is a lie.
  if ((c.lorasLength() + c.controlsLength()) * 4 > buffer.capacity()) throw new ConfigurationFormatError('configuration is not a FlatBuffer GenerationConfiguration (a list is longer than the buffer)');
  const loras = Array.from({ length: c.lorasLength() }, (_, i) => c.loras(i)).filter((l) => l?.file() && l.weight() !== 0);
  if (loras.length > 0) asksFor.push(`LoRA (${loras.map((l) => l!.file()).join(', ')})`);
  const controls = Array.from({ length: c.controlsLength() }, (_, i) => c.controls(i)).filter((x) => x?.file() && x.weight() !== 0);
  if (controls.length > 0) asksFor.push(`ControlNet (${controls.map((x) => x!.file()).join(', ')})`);
  if (c.upscaler()) asksFor.push(`the upscaler ${c.upscaler()}`);
  if (c.faceRestoration()) asksFor.push(`face restoration (${c.faceRestoration()})`);
  if (c.refinerModel() && c.refinerStart() < 1) asksFor.push(`the refiner ${c.refinerModel()}`);
  return {
    width: c.startWidth() * SIZE_UNIT_PX,
    height: c.startHeight() * SIZE_UNIT_PX,
    seed: c.seed(),
    steps: c.steps(),
    guidanceScale: c.guidanceScale(),
    strength: c.strength(),
    model: c.model() ?? '',
    sampler: c.sampler(),
    batchCount: c.batchCount(),
    batchSize: c.batchSize(),
    hiresFix: c.hiresFix(),
    hiresFixWidth: c.hiresFixStartWidth() * SIZE_UNIT_PX,
    hiresFixHeight: c.hiresFixStartHeight() * SIZE_UNIT_PX,
    hiresFixStrength: c.hiresFixStrength(),
    seedMode: c.seedMode(),
    clipSkip: c.clipSkip(),
    maskBlur: c.maskBlur(),
    asksFor,
  };
}

/** A table with no fields: root offset 8, then a 4-byte vtable and the table pointing back at it. */
function emptyTable(): Uint8Array {
  const bytes = Buffer.alloc(12);
  bytes.writeUInt32LE(8, 0);
  bytes.writeUInt16LE(4, 4);
  bytes.writeUInt16LE(4, 6);
  bytes.writeInt32LE(4, 8);
  return bytes;
}

/**
 * The root table and its vtable lie inside the buffer, and every field the vtable names lies inside
 * the table. Strings and vectors are read through offsets the runtime bounds by the buffer itself.
 */
function checkRootTable(bb: ByteBuffer): void {
  const length = bb.capacity();
  const fail = (why: string) => {
    throw new ConfigurationFormatError(`configuration is not a FlatBuffer GenerationConfiguration (${why}); the Draw Things app and its client libraries write it with FlatBuffers`);
  };
  if (length < 12) fail(`${length} bytes is too short`);
  const table = bb.readUint32(0);
  if (table < 4 || table > length - 4) fail('its root offset points outside it');
  const vtable = table - bb.readInt32(table);
  if (vtable < 0 || vtable > length - 4) fail('its vtable lies outside it');
  const vtableBytes = bb.readUint16(vtable);
  const tableBytes = bb.readUint16(vtable + 2);
  if (vtableBytes < 4 || vtableBytes % 2 !== 0 || vtable + vtableBytes > length) fail('its vtable has an impossible size');
  if (tableBytes < 4 || table + tableBytes > length) fail('its table runs past its end');
  for (let at = vtable + 4; at < vtable + vtableBytes; at += 2) {
    if (bb.readUint16(at) >= tableBytes) fail('a field lies outside its table');
  }
}
