#!/usr/bin/env node
// Print OpenAttestation's DocumentStore as published in @govtechsg/document-store (pinned in
// package.json): {"version", "abi", "bytecode"} as JSON on stdout. The benchmark deploys that
// bytecode as it is; nothing of the package is copied into the project.
const { DocumentStoreFactory } = require("@govtechsg/document-store");
const { version } = require("@govtechsg/document-store/package.json");

process.stdout.write(
  JSON.stringify({
    package: "@govtechsg/document-store",
    version,
    abi: DocumentStoreFactory.abi,
    bytecode: DocumentStoreFactory.bytecode,
  }) + "\n",
);
