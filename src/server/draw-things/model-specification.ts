import type { BaseFamily } from '../../diffusion/model-family.js';
import type { OfferedModel } from './model-offer.js';

/**
 * ModelZoo.Specification's `version` (the app's ModelVersion raw values, DataModels in
 * draw-things-community) for each family we serve. Turbo and LCM variants share their base's.
 */
const VERSION: Record<BaseFamily, string> = { sd1: 'v1', sd2: 'v2', sdxl: 'sdxl_base_v0.9' };

/** The app measures image sizes in 64-pixel units (default_scale 8 = 512 px). */
const SCALE_UNIT_PX = 64;

/**
 * The part of ModelZoo.Specification the app needs to list and pick a model: its required keys
 * (name, file, prefix, version, upcast_attention, default_scale). Keys are snake_case because the
 * app encodes and decodes these with convertToSnakeCase / convertFromSnakeCase.
 */
export function modelSpecification(model: OfferedModel): Record<string, unknown> {
  return {
    name: model.file,
    file: model.file,
    prefix: '',
    version: VERSION[model.base],
    upcast_attention: false,
    default_scale: Math.round(model.size / SCALE_UNIT_PX),
  };
}

/** MetadataOverride.models: a JSON array as UTF-8 bytes. */
export function modelsOverride(models: readonly OfferedModel[]): Buffer {
  return Buffer.from(JSON.stringify(models.map(modelSpecification)), 'utf8');
}
