import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The installed package's root (where package.json, proto/ and templates/ are), from src/ or dist/src/. */
export const PACKAGE_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'proto'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`dts-util: cannot find the package root above ${start}`);
  }
}

export const PROTO_FILE = path.join(PACKAGE_ROOT, 'proto', 'image_generation.proto');
export const SERVICE_NAME = 'drawthings.ImageGenerationService';
/** The Draw Things app's own contract: the same service name, unpackaged (proto/draw_things_image_service.proto). */
export const DRAW_THINGS_PROTO_FILE = path.join(PACKAGE_ROOT, 'proto', 'draw_things_image_service.proto');
export const DRAW_THINGS_SERVICE_NAME = 'ImageGenerationService';

/** The package's version, from its package.json. */
export const PACKAGE_VERSION: string = (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
