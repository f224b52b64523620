// Runs an ONNX model in ONNX Runtime (npm's onnxruntime-node, CPU).
// Usage: NODE_PATH=<node_modules> node ort_run.js MODEL.onnx INPUT.f32 N,D1,D2,... OUT_DIR
// INPUT.f32 holds the input tensor as raw little-endian float32; every output
// of the model is written to OUT_DIR/<name>.f32 the same way, and its name and
// shape printed.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

async function main() {
  const [model, input, dims, outDir] = process.argv.slice(2);
  const shape = dims.split(',').map(Number);
  const bytes = fs.readFileSync(input);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  // ONNX Runtime's default graph optimisations (as deployed); one thread.
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: 1});
  const feeds = {};
  feeds[session.inputNames[0]] = new ort.Tensor('float32', data, shape);
  const results = await session.run(feeds);
  for (const name of session.outputNames) {
    const t = results[name];
    fs.writeFileSync(path.join(outDir, name + '.f32'),
                     Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    console.log(name + ' ' + t.dims.join('x'));
  }
}
main().catch((e) => { console.error('ort_run: ' + e.message); process.exit(1); });
