#!/usr/bin/env node
// Winnow: reference probabilities of the ORIGINAL nsfwjs MobileNetV2 model, computed
// with pure-JS @tensorflow/tfjs (CPU backend; no tfjs-node, no native binaries).
//
// usage: node reference_tfjs.cjs <extracted model dir> <fixtures dir> [out json]
//   <extracted model dir>  model.json + *.bin written by extract_model.cjs
//   <fixtures dir>         224x224 RGB PNGs; writes <fixtures dir>/reference.json by default
//
// Two independent paths are evaluated and must agree bit-for-bit:
//   A. tf.loadLayersModel(tf.io.fromMemory(model.json + weights from disk)),
//      input = float32(pixel) / 255, shape [1, 224, 224, 3];
//   B. the nsfwjs 4.4.0 library itself (node_modules/nsfwjs: load('MobileNetV2') with
//      its bundled model + NSFWJS.infer(int32 image tensor)), i.e. exactly what
//      nsfwjs users get for a 224x224 image (no resize at that size).
// reference.json = [{"file": "...png", "probabilities": [Drawing, Hentai, Neutral, Porn, Sexy]}]
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const { PNG } = require('pngjs');

const SIZE = 224;
const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

function loadArtifacts(modelDir) {
  const mj = JSON.parse(fs.readFileSync(path.join(modelDir, 'model.json'), 'utf8'));
  const weightSpecs = [];
  const bufs = [];
  for (const group of mj.weightsManifest) {
    for (const p of group.paths) bufs.push(fs.readFileSync(path.join(modelDir, p)));
    weightSpecs.push(...group.weights);
  }
  const all = Buffer.concat(bufs);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return { modelTopology: mj.modelTopology, weightSpecs, weightData };
}

function readRgb(file) {
  const png = PNG.sync.read(fs.readFileSync(file)); // always decoded to 8-bit RGBA
  if (png.width !== SIZE || png.height !== SIZE) {
    throw new Error(`${file}: ${png.width}x${png.height}, expected ${SIZE}x${SIZE}`);
  }
  const rgb = new Int32Array(SIZE * SIZE * 3);
  for (let i = 0, j = 0; i < png.data.length; i += 4) {
    rgb[j++] = png.data[i];
    rgb[j++] = png.data[i + 1];
    rgb[j++] = png.data[i + 2];
  }
  return rgb;
}

async function main() {
  const [modelDir, fixturesDir, outArg] = process.argv.slice(2);
  if (!modelDir || !fixturesDir) {
    console.error('usage: node reference_tfjs.cjs <extracted model dir> <fixtures dir> [out json]');
    process.exit(2);
  }
  const out = outArg || path.join(fixturesDir, 'reference.json');
  await tf.setBackend('cpu');
  await tf.ready();
  console.log(`tfjs ${tf.version.tfjs}, backend ${tf.getBackend()}`);

  // A. plain tfjs layers model from the extracted files
  const model = await tf.loadLayersModel(tf.io.fromMemory(loadArtifacts(modelDir)));
  const outShape = model.outputs[0].shape;
  if (outShape[1] !== LABELS.length) throw new Error(`unexpected output shape ${outShape}`);

  // B. the nsfwjs library (its own bundled copy of the model and its own preprocessing)
  const nsfwjs = require('nsfwjs/core');
  const { MobileNetV2Model } = require('nsfwjs/models/mobilenet_v2');
  const origInfo = console.info;
  console.info = () => {}; // silence nsfwjs' "You're using the model" banner
  const lib = await nsfwjs.load('MobileNetV2', { modelDefinitions: [MobileNetV2Model] });
  console.info = origInfo;

  const files = fs.readdirSync(fixturesDir).filter((f) => f.endsWith('.png')).sort();
  if (files.length === 0) throw new Error(`no .png fixtures in ${fixturesDir}`);
  const results = [];
  let libDiff = 0;
  for (const file of files) {
    const rgb = readRgb(path.join(fixturesDir, file));
    const a = tf.tidy(() => {
      const x = tf.tensor3d(rgb, [SIZE, SIZE, 3], 'int32').toFloat().div(255).reshape([1, SIZE, SIZE, 3]);
      return model.predict(x);
    });
    const pa = Array.from(await a.data());
    a.dispose();
    const img = tf.tensor3d(rgb, [SIZE, SIZE, 3], 'int32');
    const b = lib.infer(img);
    const pb = Array.from(await b.data());
    b.dispose();
    img.dispose();
    for (let i = 0; i < pa.length; i++) libDiff = Math.max(libDiff, Math.abs(pa[i] - pb[i]));
    results.push({ file, probabilities: pa });
    const top = pa.indexOf(Math.max(...pa));
    console.log(`${file}: ${pa.map((v) => v.toFixed(6)).join(' ')}  top=${LABELS[top]}`);
  }
  console.log(`fromMemory vs nsfwjs.infer max abs diff: ${libDiff}`);
  if (libDiff !== 0) throw new Error('extracted model and nsfwjs library disagree');
  fs.writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  console.log(`wrote ${out} (${results.length} fixtures)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
