/**
 * The `lifeboat` CLI: back up, verify, restore and drill from a runner or a laptop.
 * Each command lives in `scripts/cli/<command>.ts` and exports `run(args): Promise<number>`;
 * the engine they drive is the one the edge functions use, in supabase/functions/_shared/.
 * @module
 */

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(args: string[]): Promise<number> }> }> = {
  backup: { summary: "export the database to a store (encrypted)", load: () => import("./cli/backup.ts") },
  verify: { summary: "check a backup's integrity, completeness and accessibility", load: () => import("./cli/verify.ts") },
  restore: { summary: "restore a backup into a database", load: () => import("./cli/restore.ts") },
  drill: { summary: "restore into a scratch database, verify, and measure RTO", load: () => import("./cli/drill.ts") },
  report: { summary: "write the status page as a self-contained HTML file", load: () => import("./cli/report.ts") },
  keygen: { summary: "create an age identity and print its recipient", load: () => import("./cli/keygen.ts") },
  outbox: { summary: "deliver lifeboat.outbox calls to the edge functions", load: () => import("./cli/outbox.ts") },
  stream: { summary: "continuous change capture: enable, disable, status, run", load: () => import("./cli/stream.ts") },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(8)} ${c.summary}`);
  return `usage: lifeboat <command> [options]\n\ncommands:\n${lines.join("\n")}\n\nRun 'lifeboat <command> --help' for a command's options.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`lifeboat: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  let mod;
  try {
    mod = await cmd.load();
  } catch {
    console.error(`lifeboat: the '${name}' command is not available in this build`);
    return 2;
  }
  try {
    return await mod.run(rest);
  } catch (err) {
    // A connection string postgres.js cannot parse is the user's to fix, wherever it is opened.
    if ((err as Error)?.name === "DatabaseUrlError") {
      console.error(`lifeboat ${name}: ${(err as Error).message}`);
      return 2;
    }
    throw err;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
