-- How backup-verify hashes objects (issue 19): an object up to verify.whole_object_max_bytes
-- is read whole into one of four buffers and hashed by WebCrypto on another thread, so the
-- JavaScript thread, whose CPU the platform limits, pays for reading and copying it, not for
-- its sha256; larger objects are hashed as they stream. 0 streams every object (the least
-- CPU in total, all of it on the JavaScript thread). Memory: up to 2 × 4 × the value.
-- Runs as the project's owner role. Idempotent.

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('verify.whole_object_max_bytes', '16777216'::jsonb,
   'Objects up to this many bytes are read whole and hashed off the JavaScript thread (at most 2 × 4 × this in memory); 0 streams every object through the hash on the JavaScript thread')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;
