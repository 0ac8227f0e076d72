import { handlerFromEnv } from "./handler.ts";

Deno.serve(handlerFromEnv());
