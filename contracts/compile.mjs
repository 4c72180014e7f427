#!/usr/bin/env node
// Compile the contracts (contracts/<Name>.sol) with the pinned solcjs (contracts/node_modules),
// each into contracts/artifacts/<Name>.json.
//
//   node contracts/compile.mjs [NAME...]          compile and write the artifacts (all, or those named)
//   node contracts/compile.mjs --check [NAME...]  compile; exit 1 if a committed artifact differs
//   node contracts/compile.mjs --stdout NAME      compile one; print its artifact, write nothing
//
// The settings are fixed here (not taken from the environment) so that the same source always
// gives the same bytes; the artifact records them. Each contract is compiled on its own, from
// its own source alone, so that one contract's artifact never changes with another's source.
// No network access: solcjs runs in-process.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// MicroCredentialLedger: our own ledger. EbsiTimestamp: EBSI's Timestamp interface (v4).
const CONTRACTS = ["MicroCredentialLedger", "EbsiTimestamp"];
const HERE = dirname(fileURLToPath(import.meta.url));

// The EVM the bytecode targets. Berlin, not the newest: consortium networks (EBSI's Besu) and
// older chains run it, and it has none of the opcodes added since (BASEFEE, PUSH0, MCOPY,
// TLOAD/TSTORE, BLOBHASH…) that a chain without them refuses at deployment. Every newer chain
// runs Berlin bytecode too; the artifact records this target as `evmVersion`. (solc 0.8.37 warns
// that targets before London are deprecated: expected, and London would add only BASEFEE.)
const EVM_VERSION = "berlin";

// Paths relative to the repository root, as recorded in the artifact.
const sourcePath = (name) => `contracts/${name}.sol`;
const sourceFile = (name) => join(HERE, `${name}.sol`);
const artifactFile = (name) => join(HERE, "artifacts", `${name}.json`);

// The same settings for every contract; only the output selection names it.
function settings(name) {
  return {
    // Optimizer runs: the contracts are called far more often than deployed: favour runtime gas.
    optimizer: { enabled: true, runs: 10000 },
    evmVersion: EVM_VERSION,
    // No metadata hash in the bytecode: it would change with comments and paths, not with code.
    metadata: { bytecodeHash: "none" },
    outputSelection: {
      [sourcePath(name)]: { [name]: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
    },
  };
}

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

function compile(solc, name) {
  const file = sourceFile(name);
  if (!existsSync(file)) fail(`no source at ${file}`);
  const sourceBytes = readFileSync(file);
  const input = {
    language: "Solidity",
    sources: { [sourcePath(name)]: { content: sourceBytes.toString("utf8") } },
    settings: settings(name),
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const diagnostics = output.errors ?? [];
  for (const d of diagnostics.filter((d) => d.severity !== "error")) {
    process.stderr.write(`solc ${d.severity}: ${d.formattedMessage ?? d.message}\n`);
  }
  const errors = diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0) {
    for (const e of errors) process.stderr.write(`${e.formattedMessage ?? e.message}\n`);
    fail(`solc ${solc.version()} failed to compile ${sourcePath(name)} (${errors.length} error(s))`);
  }
  const contract = output.contracts?.[sourcePath(name)]?.[name];
  if (!contract?.evm?.bytecode?.object) fail(`solc produced no bytecode for ${name}`);
  return {
    contractName: name,
    sourcePath: sourcePath(name),
    sourceHash: createHash("sha256").update(sourceBytes).digest("hex"),
    compiler: { name: "solc", version: solc.version(), settings: settings(name) },
    evmVersion: EVM_VERSION,
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
  };
}

const serialize = (artifact) => `${JSON.stringify(artifact, null, 2)}\n`;

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith("--"));
const names = args.filter((a) => !a.startsWith("--"));
const unknownFlags = flags.filter((a) => !["--check", "--stdout"].includes(a));
if (unknownFlags.length > 0) fail(`unknown argument(s): ${unknownFlags.join(" ")}`);
if (flags.length > 1) fail("--check and --stdout exclude each other");
const unknownNames = names.filter((n) => !CONTRACTS.includes(n));
if (unknownNames.length > 0) {
  fail(`unknown contract(s): ${unknownNames.join(" ")} (known: ${CONTRACTS.join(", ")})`);
}
const mode = flags[0] ?? "--write";
if (mode === "--stdout" && names.length !== 1) {
  fail(`--stdout prints one artifact: name one contract (${CONTRACTS.join(", ")})`);
}

const solc = loadSolc();
const stale = [];
for (const name of names.length > 0 ? names : CONTRACTS) {
  const text = serialize(compile(solc, name));
  const file = artifactFile(name);
  if (mode === "--stdout") {
    process.stdout.write(text);
  } else if (mode === "--check") {
    const committed = existsSync(file) ? readFileSync(file, "utf8") : null;
    if (committed === text) {
      process.stderr.write(`${name}: artifact up to date\n`);
    } else {
      process.stderr.write(`${name}: ${file} is ${committed === null ? "missing" : "out of date"}\n`);
      stale.push(name);
    }
  } else {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    process.stderr.write(`${name}: wrote ${file}\n`);
  }
}
if (stale.length > 0) {
  fail(`${stale.join(", ")}: run \`node contracts/compile.mjs\` and commit the result`);
}
