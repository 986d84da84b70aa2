"""The help texts of the ``httpcache`` command (``_cli.py`` builds the parser around them)."""

from __future__ import annotations

__all__ = ["DESCRIPTION", "EPILOGS", "STORE_HELP"]

STORE_HELP = (
    "the cache: a directory path, or a storage URL (file:///path, sqlite:///cache.db,"
    " redis://host:6379/0?namespace=x, s3://bucket/prefix)"
)

DESCRIPTION = """\
Inspect, prune and clear an httpcache storage.

STORE is a cache directory (./.httpcache) or a storage URL:
  file:///var/cache/app                  a FileStorage directory
  sqlite:///cache.db, sqlite:////abs.db  an SQLiteStorage database
  redis://127.0.0.1:6379/0?namespace=x   a RedisStorage namespace
  s3://bucket/prefix                     an S3Storage prefix (credentials and region from
                                         the AWS environment; add ?endpoint_url=URL for
                                         MinIO, moto and other S3-compatible services)
Every URL takes the storage lifetime purge-expired applies: ?ttl=SECONDS, and
&sliding=true / &max_lifetime=SECONDS. A store that does not exist is an error;
the command never creates one.

"stale" means stale by HTTP freshness (RFC 9111: no freshness left, or
invalidated); stale entries stay stored so they can be revalidated. "expired"
(stats, purge-expired) means past a storage lifetime (the entry's own ttl, or the
URL's ttl= and max_lifetime=): such entries are never listed, and purge-expired
removes them.

exit codes: 0 success; 1 error (store missing or unreachable, entry not found,
clear not confirmed); 2 usage error.

examples:
  httpcache list ./.httpcache --stale
  httpcache show sqlite:///cache.db https://example.com/ --headers
  httpcache stats 'redis://127.0.0.1:6379/0?namespace=app' --json
  httpcache clear 's3://bucket/cache?endpoint_url=http://127.0.0.1:9000' --yes

Run 'httpcache COMMAND --help' for each command's options and examples.
"""

EPILOGS = {
    "list": """\
columns: METHOD STATUS SIZE AGE FRESH HITS VARIANTS URL. AGE is the current age
(RFC 9111 4.2.3); FRESH is the freshness left, or "stale" / "invalidated";
VARIANTS counts the entries stored for the same key (Vary, credentials).
Entries past their storage lifetime are never listed (see purge-expired).
Unreadable entries are reported on stderr as warnings and skipped.

examples:
  httpcache list ./.httpcache
  httpcache list sqlite:///cache.db --url 'https://api.example.com/*' --status 200
  httpcache list 'redis://127.0.0.1:6379/0?namespace=app' --stale --sort age
  httpcache list s3://bucket/cache --larger-than 1MiB --sort size --limit 10 --json
""",
    "show": """\
KEY is an entry's key exactly (as list --json prints it); a URL is normalised the
way the cache does, so the URL you requested works. Every variant of the URL is
shown (Vary variants, credential partitions). Credentials are stored only as
hashes and are shown as stored.

examples:
  httpcache show ./.httpcache https://example.com/ --headers
  httpcache show sqlite:///cache.db https://example.com/logo.png --body > logo.png
  httpcache show ./.httpcache https://example.com/ --variant 3f2a --body --headers
  httpcache show ./.httpcache https://example.com/ --json
""",
    "stats": """\
entries, bytes and storage-expired come from the backend (bytes as it measures
them; S3 does not count expired entries). listed, stale, fresh, body bytes,
oldest/newest and the per-host and per-status counts come from the entries
that can be listed. File and Redis stores remove expired entries they read past,
so after stats a purge-expired may find nothing left to remove.

examples:
  httpcache stats ./.httpcache
  httpcache stats 'redis://127.0.0.1:6379/0?namespace=app' --json
""",
    "delete": """\
Deletes every variant of one KEY or URL, or every entry whose normalised URL
matches the glob given to --url (deleting nothing is then not an error).

examples:
  httpcache delete ./.httpcache https://example.com/page
  httpcache delete sqlite:///cache.db --url 'https://example.com/api/*'
""",
    "purge-expired": """\
Removes the entries past their storage lifetime: their own ttl (the
httpcache_ttl request extension) or the store's (give it on the URL as
?ttl=SECONDS, &sliding=true, &max_lifetime=SECONDS). Entries that are merely
stale by HTTP stay: they can be revalidated.

examples:
  httpcache purge-expired ./.httpcache
  httpcache purge-expired 'sqlite:///cache.db?ttl=86400'
""",
    "clear": """\
Removes every entry of the store (for Redis and S3, only under its namespace or
prefix). On a terminal it asks first; elsewhere it refuses unless --yes is given.

examples:
  httpcache clear ./.httpcache
  httpcache clear 'redis://127.0.0.1:6379/0?namespace=app' --yes
""",
}
