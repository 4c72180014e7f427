#!/usr/bin/env node
// Compile contracts/MicroCredentialLedger.sol with the pinned solcjs (contracts/node_modules)
// into contracts/artifacts/MicroCredentialLedger.json.
//
//   node contracts/compile.mjs           compile and write the artifact
//   node contracts/compile.mjs --check   compile; exit 1 if the committed artifact differs
//   node contracts/compile.mjs --stdout  compile; print the artifact, write nothing
//
// The settings are fixed here (not taken from the environment) so that the same source always
// gives the same bytes; the artifact records them. No network access: solcjs runs in-process.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const CONTRACT = "MicroCredentialLedger";
const HERE = dirname(fileURLToPath(import.meta.url));
// Paths relative to the repository root, as recorded in the artifact.
const SOURCE_PATH = `contracts/${CONTRACT}.sol`;
const SOURCE_FILE = join(HERE, `${CONTRACT}.sol`);
const ARTIFACT_FILE = join(HERE, "artifacts", `${CONTRACT}.json`);

// The EVM the bytecode targets. Berlin, not the newest: consortium networks (EBSI's Besu) and
// older chains run it, and it has none of the opcodes added since (BASEFEE, PUSH0, MCOPY,
// TLOAD/TSTORE, BLOBHASH…) that a chain without them refuses at deployment. Every newer chain
// runs Berlin bytecode too; the artifact records this target as `evmVersion`. (solc 0.8.37 warns
// that targets before London are deprecated: expected, and London would add only BASEFEE.)
const EVM_VERSION = "berlin";

// Optimizer runs: the contract is called far more often than deployed, so favour runtime gas.
const SETTINGS = {
  optimizer: { enabled: true, runs: 10000 },
  evmVersion: EVM_VERSION,
  // No metadata hash in the bytecode: it would change with comments and paths, not with code.
  metadata: { bytecodeHash: "none" },
  outputSelection: {
    [SOURCE_PATH]: { [CONTRACT]: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
  },
};

function fail(message) {
  process.stderr.write(`compile.mjs: ${message}\n`);
  process.exit(1);
}

function loadSolc() {
  // Resolve from contracts/, so the pinned copy in contracts/node_modules is the one used.
  const require = createRequire(join(HERE, "package.json"));
  try {
    return require("solc");
  } catch (err) {
    fail(`the pinned solc is not installed in ${join(HERE, "node_modules")} (${err.message}); ` +
      "run `make setup` (npm ci in contracts/)");
  }
}

function compile() {
  if (!existsSync(SOURCE_FILE)) fail(`no source at ${SOURCE_FILE}`);
  const sourceBytes = readFileSync(SOURCE_FILE);
  const solc = loadSolc();
  const input = {
    language: "Solidity",
    sources: { [SOURCE_PATH]: { content: sourceBytes.toString("utf8") } },
    settings: SETTINGS,
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const diagnostics = output.errors ?? [];
  for (const d of diagnostics.filter((d) => d.severity !== "error")) {
    process.stderr.write(`solc ${d.severity}: ${d.formattedMessage ?? d.message}\n`);
  }
  const errors = diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0) {
    for (const e of errors) process.stderr.write(`${e.formattedMessage ?? e.message}\n`);
    fail(`solc ${solc.version()} failed to compile ${SOURCE_PATH} (${errors.length} error(s))`);
  }
  const contract = output.contracts?.[SOURCE_PATH]?.[CONTRACT];
  if (!contract?.evm?.bytecode?.object) fail(`solc produced no bytecode for ${CONTRACT}`);
  return {
    contractName: CONTRACT,
    sourcePath: SOURCE_PATH,
    sourceHash: createHash("sha256").update(sourceBytes).digest("hex"),
    compiler: { name: "solc", version: solc.version(), settings: SETTINGS },
    evmVersion: EVM_VERSION,
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
  };
}

const serialize = (artifact) => `${JSON.stringify(artifact, null, 2)}\n`;

const args = process.argv.slice(2);
const unknown = args.filter((a) => !["--check", "--stdout"].includes(a));
if (unknown.length > 0) fail(`unknown argument(s): ${unknown.join(" ")}`);

const text = serialize(compile());
if (args.includes("--stdout")) {
  process.stdout.write(text);
} else if (args.includes("--check")) {
  const committed = existsSync(ARTIFACT_FILE) ? readFileSync(ARTIFACT_FILE, "utf8") : null;
  if (committed !== text) {
    fail(`${ARTIFACT_FILE} is ${committed === null ? "missing" : "out of date"}; ` +
      "run `node contracts/compile.mjs` and commit the result");
  }
  process.stderr.write(`${CONTRACT}: artifact up to date\n`);
} else {
  mkdirSync(dirname(ARTIFACT_FILE), { recursive: true });
  writeFileSync(ARTIFACT_FILE, text);
  process.stderr.write(`${CONTRACT}: wrote ${ARTIFACT_FILE}\n`);
}
