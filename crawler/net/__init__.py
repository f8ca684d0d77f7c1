"""HTTP out: fetch (the one door: redirects, status, caps, error translation) over requests
(transport), through the SSRF guard at connect time (netguard), with the platform's socket
timeouts (sockopts) and the user's headers, cookies, proxies and CA bundles (httpopts)."""
