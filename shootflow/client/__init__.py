"""The `shootflow` command: a client of a shootflow server's JSON API, usable from any machine
(http: the API client; flags: capture options as flags; progress: bars and plain lines;
output: JSON and times; commands: the click commands for bundles; watching: for watches)."""
