// Test oracle: runs an original TensorFlow.js graph model with the pure-JS CPU backend.
// Usage: node run_tfjs.js MODEL.json WEIGHTS_DIR INPUT.f32 D0,D1,D2,D3 OUT1,OUT2,... > outputs.json
// INPUT.f32 holds little-endian float32 values; prints {"tensorName": [values...], ...}.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function main() {
  const [modelPath, weightsDir, inputPath, shapeArg, outArg] = process.argv.slice(2);
  const model = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
  const specs = [];
  const buffers = [];
  for (const group of model.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(weightsDir, path.basename(p))));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  await tf.setBackend('cpu');
  const graph = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: model.modelTopology, weightSpecs: specs, weightData,
    format: model.format, generatedBy: model.generatedBy, convertedBy: model.convertedBy,
    signature: model.signature, userDefinedMetadata: model.userDefinedMetadata,
  }));
  const raw = fs.readFileSync(inputPath);
  const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const x = tf.tensor(values, shapeArg.split(',').map(Number), 'float32');
  const names = outArg.split(',');
  let outs = graph.execute(x, names);
  if (!Array.isArray(outs)) outs = [outs];
  const result = {};
  names.forEach((n, i) => { result[n] = Array.from(outs[i].dataSync()); });
  process.stdout.write(JSON.stringify(result));
}
main().catch((e) => { console.error(e); process.exit(1); });
