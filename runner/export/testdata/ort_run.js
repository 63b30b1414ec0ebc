// Runs an ONNX model with ONNX Runtime (the npm package onnxruntime-node) for the Go
// tests of runner/export: node ort_run.js ORT_MODULE MODEL INPUT DIMS_JSON OUT_DIR
// reads INPUT (raw little-endian float32 of shape DIMS_JSON) as input_0, and writes each
// output as OUT_DIR/<name>.bin (raw float32) and their shapes and the model's metadata
// as OUT_DIR/result.json.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [ortModule, model, input, dimsJSON, outDir] = process.argv.slice(2);
  const ort = require(ortModule);
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const out = await session.run({ input_0: new ort.Tensor('float32', data, JSON.parse(dimsJSON)) });
  const result = { inputs: session.inputNames, outputs: {} };
  for (const name of session.outputNames) {
    const t = out[name];
    fs.writeFileSync(path.join(outDir, name + '.bin'), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    result.outputs[name] = { type: t.type, dims: t.dims };
  }
  fs.writeFileSync(path.join(outDir, 'result.json'), JSON.stringify(result));
}

main().catch((e) => {
  console.error(e && e.message ? e.message : String(e));
  process.exit(1);
});
