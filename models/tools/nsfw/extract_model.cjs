#!/usr/bin/env node
// Winnow: unpack the MobileNetV2 model that nsfwjs 4.4.0 ships into a plain
// TensorFlow.js "layers-model" directory (model.json + binary weight shards).
//
// nsfwjs 4.x does not ship model.json / *.bin files. Each model lives in
// dist/models/<name>/ as browserify (UMD) bundles:
//   model.min.js              module.exports = {modelTopology, weightsManifest}
//                              (a minified JS object literal, NOT JSON:
//                               unquoted keys, !1 for false, ...)
//   group1-shardKofN.min.js   module.exports = "<base64 of the weight shard>"
// Because the topology is JS rather than JSON, it is evaluated with node's
// require() here instead of being parsed from Python.
//
// usage: node extract_model.cjs <unpacked nsfwjs package dir> <out dir> [model]
//   <unpacked nsfwjs package dir>  the "package/" directory of `npm pack nsfwjs@4.4.0`
//   [model]                        mobilenet_v2 (default) | mobilenet_v2_mid | inception_v3
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

function main() {
  const [pkgDir, outDir, modelName = 'mobilenet_v2'] = process.argv.slice(2);
  if (!pkgDir || !outDir) {
    console.error('usage: node extract_model.cjs <nsfwjs package dir> <out dir> [model]');
    process.exit(2);
  }
  const pkgJson = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  const modelDir = path.resolve(pkgDir, 'dist', 'models', modelName);
  const topo = require(path.join(modelDir, 'model.min.js'));
  if (!topo.modelTopology || !topo.weightsManifest) {
    throw new Error(`${modelDir}/model.min.js does not export {modelTopology, weightsManifest}`);
  }
  fs.mkdirSync(outDir, { recursive: true });

  const manifest = [];
  for (const group of topo.weightsManifest) {
    const paths = [];
    for (const p of group.paths) {
      const b64 = require(path.join(modelDir, `${p}.min.js`));
      if (typeof b64 !== 'string') throw new Error(`${p}.min.js does not export a base64 string`);
      const bytes = Buffer.from(b64, 'base64');
      const file = `${p}.bin`;
      fs.writeFileSync(path.join(outDir, file), bytes);
      const sha = crypto.createHash('sha256').update(bytes).digest('hex');
      console.log(`wrote ${file}: ${bytes.length} bytes sha256=${sha}`);
      paths.push(file);
    }
    manifest.push({ paths, weights: group.weights });
  }
  const modelJson = {
    format: 'layers-model',
    generatedBy: `extracted by Winnow extract_model.cjs from ${pkgJson.name}@${pkgJson.version} dist/models/${modelName}`,
    convertedBy: null,
    modelTopology: topo.modelTopology,
    weightsManifest: manifest,
  };
  fs.writeFileSync(path.join(outDir, 'model.json'), JSON.stringify(modelJson));
  const nWeights = manifest.reduce((a, g) => a + g.weights.length, 0);
  console.log(`wrote model.json (${pkgJson.name}@${pkgJson.version} ${modelName}, ${nWeights} weight tensors) to ${outDir}`);
}

main();
