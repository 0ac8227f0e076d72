// The anchor for the health benchmark: the smallest possible Deno.serve handler.
Deno.serve(() => new Response("ok"));
