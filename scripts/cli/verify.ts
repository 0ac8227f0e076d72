/** Placeholder until the verify command lands: says so and exits non-zero. */
export function run(_args: string[]): Promise<number> {
  console.error("lifeboat verify: not implemented yet");
  return Promise.resolve(2);
}
