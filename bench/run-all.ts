/** `npm run bench`: every benchmark, figures printed as ratios against a baseline of the same run. */
import { benchFp16Cpu } from './fp16-cpu.js';
import { benchGenerate } from './generate.js';
import { benchMetrics } from './metrics-overhead.js';
import { benchModelSwitch } from './model-switch.js';
import { benchModelsUpload } from './models-upload.js';
import { benchStartup } from './startup.js';
import { benchUpload } from './upload-throughput.js';

benchStartup();
await benchUpload();
await benchModelsUpload();
await benchGenerate();
await benchMetrics();
await benchModelSwitch();
benchFp16Cpu();
