// Runs an actions/github-script `script:` the way github-script v7 does (src/async-function.ts:
// an AsyncFunction of github, context, core, require, ...), against a fake GitHub API.
//
// node tests/github_script.cjs
// Cases one after the other, in one process (Node costs ~0.1 s of CPU to start): each line of
// stdin is {"case": "CASE.json", "env": {NAME: value}}, env being the step's whole environment.
// CASE.json: {script, repo: {owner, repo}, payload, pulls: {NUMBER: pull}, comments: {NUMBER: [...]}}
// Each case answers with one JSON line: {calls: [[method, params], ...], warnings: [...],
// error: message|null}; each has its own fake API, context and core.
"use strict";

const fs = require("fs");
const readline = require("readline");

const AsyncFunction = Object.getPrototypeOf(async () => null).constructor;

async function runCase(caseFile) {
  const input = JSON.parse(fs.readFileSync(caseFile, "utf8"));
  const calls = [];
  const warnings = [];
  const notFound = () => Object.assign(new Error("Not Found"), { status: 404 });
  const rest = {
    pulls: {
      get: async (params) => {
        calls.push(["pulls.get", params]);
        const pull = input.pulls[String(params.pull_number)];
        if (!pull) throw notFound();
        return { data: pull };
      },
    },
    issues: {
      listComments: async (params) => {
        calls.push(["issues.listComments", params]);
        return { data: input.comments[String(params.issue_number)] || [] };
      },
      updateComment: async (params) => {
        calls.push(["issues.updateComment", params]);
        return { data: {} };
      },
      createComment: async (params) => {
        calls.push(["issues.createComment", params]);
        return { data: {} };
      },
    },
  };
  const github = {
    rest,
    paginate: async (method, params) => (await method(params)).data,
  };
  const context = { repo: input.repo, payload: input.payload };
  const core = {
    warning: (message) => warnings.push(String(message)),
    info: () => {},
    setFailed: (message) => {
      throw new Error(String(message));
    },
  };
  const args = { require, github, octokit: github, context, core };
  let error = null;
  try {
    await new AsyncFunction(...Object.keys(args), input.script)(...Object.values(args));
  } catch (exc) {
    error = exc instanceof Error ? exc.message : String(exc); // github-script fails the step
  }
  return JSON.stringify({ calls, warnings, error }) + "\n";
}

async function serve() {
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const { case: caseFile, env } = JSON.parse(line);
    process.env = env; // what the step's `env:` and the runner give this case, nothing else
    process.stdout.write(await runCase(caseFile));
  }
}

serve();
