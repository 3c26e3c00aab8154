complete -c rumor -l port -d 'Port to listen on; 0 picks a free one (the printed address shows it). Example: --port 8080' -r
complete -c rumor -l bind -d 'Address to listen on; IPv6 works too; 0.0.0.0 or :: listens on every interface. Example: --bind ::1' -r
complete -c rumor -l advertise -d 'The address other nodes should dial and print for this one, when it is not the --bind address (every interface, a forwarded port); host names resolve. Example: --advertise 192.0.2.7:8080' -r
complete -c rumor -l period -d 'How often to send a random message to every peer: a duration such as 5s, 1m30s or 250ms, a bare number of seconds, or "off" for none. Example: --period 5' -r
complete -c rumor -l connect -l bootstrap -d 'A peer to join through (repeatable); host names resolve, and one that does not resolve yet is retried. Example: --connect 127.0.0.1:8080' -r
complete -c rumor -l exit-on-eof -d 'Leave once stdin ends: after the join, send every line, say goodbye and wait (up to 5s) for each peer to close; exit 0 if every peer has every line, 3 if not. For scripts: printf \'done\\n\' | rumor ... --exit-on-eof'
complete -c rumor -l json -d 'Print one JSON object per line on stdout instead of text (the schema is in the README); stderr stays text'
complete -c rumor -s q -l quiet -d 'Print only errors on stderr (no retries, no refused connections)'
complete -c rumor -s v -l verbose -d 'Also print each dial and each handshake\'s outcome on stderr'
complete -c rumor -s h -l help -d 'Print help'
complete -c rumor -s V -l version -d 'Print version'
