// Points the Storage server's `pg-boss` dependency at the npm registry's release instead of
// Supabase's GitHub fork (`github:supabase/pg-boss#feat/exactly_once`), which these machines
// cannot fetch. The registry's pg-boss@10.3.2 is the version the fork's lock entry names, with
// the same dependencies; only the job queue uses it, and the stack runs the server with the
// queue off (PG_QUEUE_ENABLE=false). package.json and package-lock.json are rewritten together
// so that `npm ci` stays a locked, reproducible install. Listed in docs/supabase-compat.md.
//
// Usage: node pin-pg-boss.cjs <storage source folder> <version> <sha512 integrity>
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const [dir, version, integrity] = process.argv.slice(2);
if (!dir || !version || !integrity) {
  console.error("usage: node pin-pg-boss.cjs <storage source folder> <version> <integrity>");
  process.exit(2);
}
const resolved = `https://registry.npmjs.org/pg-boss/-/pg-boss-${version}.tgz`;

function rewrite(file, edit) {
  const p = path.join(dir, file);
  const json = JSON.parse(fs.readFileSync(p, "utf8"));
  edit(json);
  fs.writeFileSync(p, JSON.stringify(json, null, 2) + "\n");
}

rewrite("package.json", (pkg) => {
  pkg.dependencies["pg-boss"] = version;
});

rewrite("package-lock.json", (lock) => {
  const fork = lock.packages["node_modules/pg-boss"];
  if (!fork) throw new Error("package-lock.json has no node_modules/pg-boss entry: is this the pinned Storage source?");
  lock.packages[""].dependencies["pg-boss"] = version;
  lock.packages["node_modules/pg-boss"] = {
    version,
    resolved,
    integrity,
    license: fork.license,
    dependencies: fork.dependencies,
    engines: fork.engines,
  };
  // lockfileVersion 2 also keeps the npm 6 view of the tree.
  if (lock.dependencies && lock.dependencies["pg-boss"]) {
    const old = lock.dependencies["pg-boss"];
    lock.dependencies["pg-boss"] = { version, resolved, integrity, requires: old.requires };
  }
});
