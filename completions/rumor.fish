# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_rumor_global_optspecs
    string join \n port= bind= advertise= period= connect= max-peers= exit-on-eof json q/quiet v/verbose key-file= h/help V/version
end

function __fish_rumor_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_rumor_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_rumor_using_subcommand
    set -l cmd (__fish_rumor_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c rumor -n "__fish_rumor_needs_command" -l port -d 'Port to listen on; 0 picks a free one (the printed address shows it). Example: --port 8080' -r
complete -c rumor -n "__fish_rumor_needs_command" -l bind -d 'Address to listen on; IPv6 works too; 0.0.0.0 or :: listens on every interface. Example: --bind ::1' -r
complete -c rumor -n "__fish_rumor_needs_command" -l advertise -d 'The address other nodes should dial and print for this one, when it is not the --bind address (every interface, a forwarded port); host names resolve. Example: --advertise 192.0.2.7:8080' -r
complete -c rumor -n "__fish_rumor_needs_command" -l period -d 'How often to send a random message to every peer: a duration such as 5s, 1m30s or 250ms, a bare number of seconds, or "off" for none. Example: --period 5' -r
complete -c rumor -n "__fish_rumor_needs_command" -l connect -l bootstrap -d 'A peer to join through (repeatable); host names resolve, and one that does not resolve yet is retried. Example: --connect 127.0.0.1:8080' -r
complete -c rumor -n "__fish_rumor_needs_command" -l max-peers -d 'Peers to keep connections to (the active view). Any number of nodes can join: each message is relayed to all. A network of at most N+1 nodes is a full mesh' -r
complete -c rumor -n "__fish_rumor_needs_command" -l key-file -d 'A file holding the network key ring: one base64 key a line (as `rumor keygen` prints), the first the primary; `#` comments allowed. It must be readable by its owner only (chmod 600). Also from RUMOR_KEY_FILE. A key is never taken on the command line. With a key every connection is encrypted and only nodes holding a key of the ring can join; SIGHUP reloads the file' -r -F
complete -c rumor -n "__fish_rumor_needs_command" -l exit-on-eof -d 'Leave once stdin ends: after the join, send every line, say goodbye and wait (up to 5s) for each peer to close; exit 0 if every peer has every line, 3 if not. For scripts: printf \'done\\n\' | rumor ... --exit-on-eof'
complete -c rumor -n "__fish_rumor_needs_command" -l json -d 'Print one JSON object per line on stdout instead of text (the schema is in the README); stderr stays text'
complete -c rumor -n "__fish_rumor_needs_command" -s q -l quiet -d 'Print only errors on stderr (no retries, no refused connections)'
complete -c rumor -n "__fish_rumor_needs_command" -s v -l verbose -d 'Also print each dial and each handshake\'s outcome on stderr'
complete -c rumor -n "__fish_rumor_needs_command" -s h -l help -d 'Print help'
complete -c rumor -n "__fish_rumor_needs_command" -s V -l version -d 'Print version'
complete -c rumor -n "__fish_rumor_needs_command" -f -a "keygen" -d 'Print a new random network key (base64, one line) and exit'
complete -c rumor -n "__fish_rumor_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumor -n "__fish_rumor_using_subcommand keygen" -s h -l help -d 'Print help'
complete -c rumor -n "__fish_rumor_using_subcommand help; and not __fish_seen_subcommand_from keygen help" -f -a "keygen" -d 'Print a new random network key (base64, one line) and exit'
complete -c rumor -n "__fish_rumor_using_subcommand help; and not __fish_seen_subcommand_from keygen help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
