"""Pure rules, no I/O: what may be fetched (URLs, scope, robots.txt), how an image is named and
typed, the wire records, when a request may go out (per-host slots, delays, retries) and how
many downloads a worker runs at once."""
