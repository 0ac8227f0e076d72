/** Placeholder until the backup command lands: says so and exits non-zero. */
export function run(_args: string[]): Promise<number> {
  console.error("lifeboat backup: not implemented yet");
  return Promise.resolve(2);
}
