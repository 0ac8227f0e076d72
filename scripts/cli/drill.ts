/** Placeholder until the drill command lands: says so and exits non-zero. */
export function run(_args: string[]): Promise<number> {
  console.error("lifeboat drill: not implemented yet");
  return Promise.resolve(2);
}
