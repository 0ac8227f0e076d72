/** Placeholder until the keygen command lands: says so and exits non-zero. */
export function run(_args: string[]): Promise<number> {
  console.error("lifeboat keygen: not implemented yet");
  return Promise.resolve(2);
}
