complete -c rumor -l port -d 'Port to listen on; 0 picks a free one (the printed address shows it). Example: --port 8080' -r
complete -c rumor -l bind -d 'Address to listen on; IPv6 works too. Example: --bind ::1' -r
complete -c rumor -l period -d 'How often to send a random message to every peer: a duration such as 5s, 1m30s or 250ms, a bare number of seconds, or "off" for none. Example: --period 5' -r
complete -c rumor -l connect -l bootstrap -d 'A peer to join through (repeatable); host names resolve. Example: --connect 127.0.0.1:8080' -r
complete -c rumor -s h -l help -d 'Print help'
complete -c rumor -s V -l version -d 'Print version'
