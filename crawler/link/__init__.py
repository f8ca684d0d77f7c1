"""The master <-> worker connection over multiprocessing's BaseManager: the manager and its served
task queue (manager), hardened connections with restricted unpickling (connection), TLS on
the link (tls), and the shared key (authkey)."""
