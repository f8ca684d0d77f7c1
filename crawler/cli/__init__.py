"""The faces: `crawler CMD` (commands: main and each command; parser: flags and help; configfile:
--config TOML), a master run in this process with or without local workers and its clean
stop (launch; local: the workers `crawler run` forks or starts), logs and their relay, status
and extract output (show), and `crawler demo` (demo, serving demosite/, package data)."""
