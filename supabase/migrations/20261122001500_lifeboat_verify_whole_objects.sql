-- How backup-verify hashes objects (issue 19). 0, the default, streams every object through
-- node:crypto on the JavaScript thread: on a quiet host it verified 1 GiB faster than the
-- whole-object way (bench/verify/RESULTS.md, session 11). Above 0, an object up to that many
-- bytes is read whole into one of four buffers and hashed by WebCrypto on another thread, so
-- the JavaScript thread, whose CPU the platform limits, pays for reading and copying it, not
-- for its sha256 (more CPU in total). Memory: up to 2 × 4 × the value.
-- Runs as the project's owner role. Idempotent.

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('verify.whole_object_max_bytes', '0'::jsonb,
   'Objects up to this many bytes are read whole and hashed off the JavaScript thread (at most 2 × 4 × this in memory); 0 (the default) streams every object through the hash on the JavaScript thread')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;
