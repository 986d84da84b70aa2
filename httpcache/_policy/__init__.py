"""RFC 9111 as pure functions over immutable values (no I/O, no clock reads)."""
