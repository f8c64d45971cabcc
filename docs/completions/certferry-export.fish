# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_certferry_export_global_optspecs
    string join \n h/help V/version
end

function __fish_certferry_export_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_certferry_export_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_certferry_export_using_subcommand
    set -l cmd (__fish_certferry_export_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c certferry-export -n "__fish_certferry_export_needs_command" -s h -l help -d 'Print help'
complete -c certferry-export -n "__fish_certferry_export_needs_command" -s V -l version -d 'Print version'
complete -c certferry-export -n "__fish_certferry_export_needs_command" -f -a "keygen" -d 'Create a minisign-compatible signing key pair for this exporter'
complete -c certferry-export -n "__fish_certferry_export_needs_command" -f -a "ldap" -d 'Export from a directory server over LDAP (StartTLS) or LDAPS'
complete -c certferry-export -n "__fish_certferry_export_needs_command" -f -a "ldif" -d 'Export from an LDIF dump (ldifde -f, ldapsearch -LLL)'
complete -c certferry-export -n "__fish_certferry_export_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand keygen" -l secret-key -d 'Where to write the secret key (created with mode 0600; never overwritten)' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand keygen" -l public-key -d 'Where to write the public key (give it to the importer\'s trust policy)' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand keygen" -l password-file -d 'Read the new key\'s password from this file' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand keygen" -l password-env -d 'Read the new key\'s password from this environment variable' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand keygen" -l unencrypted -d 'Write the secret key without a password (like `minisign -G -W`). Only for keys kept in a hardware-protected or otherwise secured store'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand keygen" -s h -l help -d 'Print help'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -s H -l uri -d 'Server URI: ldaps://dc1.contoso.example or ldap://dc1.contoso.example (with -Z)' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -s b -l base -d 'Search base. Default: the server\'s defaultNamingContext' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -s D -l bind -d 'Bind name: a DN, a UPN (reader@contoso.example) or DOMAIN\\user' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -s y -l password-file -d 'Read the bind password from this file (like ldapsearch -y)' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l password-env -d 'Read the bind password from this environment variable' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l ca-file -d 'PEM CA file to verify the server\'s certificate (default: $LDAPTLS_CACERT, then the system\'s trusted CAs)' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l filter -d 'Extra LDAP filter ANDed with the built-in one, e.g. \'(department=Finance)\'' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l page-size -d 'Paged search page size (1-1000)' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l connect-timeout -d 'Connect timeout in seconds' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l timeout -d 'Timeout for each LDAP operation in seconds' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l source-id -d 'A short, stable name for this directory, e.g. `contoso-ad` ([a-z0-9._-], at most 64)' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -s o -l out -d 'Directory to write the bundle and its signature into' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l key -d 'The exporter\'s secret signing key (minisign format)' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l key-password-file -d 'Read the signing key\'s password from this file' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l key-password-env -d 'Read the signing key\'s password from this environment variable' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l state -d 'Export state file (last sequence number and hash per source). Default: `$XDG_STATE_HOME/certferry/export-SOURCE_ID.json`' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l expires-in -d 'How long the importer may accept the bundle: e.g. 7d, 36h, 90m' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l trusted-ca -d 'PEM file of the CAs you pin (issuing CAs, or your root): certificates without a certification path to one of them are classified `untrusted-issuer`. May be repeated' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l intermediate-ca -d 'PEM file of intermediate CA certificates that may help build that path (never trusted for themselves). May be repeated' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l pki-ca-file -d 'Carry the CA certificates of this file too (PEM or DER). May be repeated; implies carrying CA material. (`--ca-file` of `ldap` is the TLS trust file for the server, not this.)' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l pki-crl-file -d 'Carry the CRLs of this file too (PEM or DER, complete or delta). May be repeated; implies carrying CA material' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l max-shrink -d 'Refuse a snapshot whose entries or usable certificates drop by more than this many since the last one (Entra Connect\'s deletion threshold)' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l max-shrink-percent -d 'Refuse a snapshot whose entries or usable certificates drop by more than this percentage since the last one (drops of fewer than 10 are never refused by this limit)' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l created -d 'Use this creation time instead of the clock (YYYY-MM-DDTHH:MM:SSZ), for reproducible exports: the same directory and time give the same bytes' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l bundle-revision -d 'The bundle format revision to write. 1.4 says each fact once (the certificates\' descriptions are left to the verifier, which derives them from the bytes anyway) and deflates the three text members: about half the bytes of 1.3. Write 1.3 only for an importer older than 1.4, which refuses a 1.4 bundle (it never misreads one)' -r -f -a "1.3\t'Every member stored, every certificate described: read by every importer'
1.4\t'Lean certificate objects, three text members deflated'"
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l part-size -d 'A snapshot larger than this is written in parts (format revision 1.4): part files of about this size and a signed part index (`certferry-SOURCE-SEQUENCE.sha256`) that names them, so that no file outgrows the removable media or the importer\'s memory (the importer holds about five times one part while it verifies it, the next part being read meanwhile: about 0.7 GB at the default). Bytes, or with K, M or G (powers of 1024), from 16K to 1536M. Ship every part with the index. Not with --bundle-revision 1.3, which is one file' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -s Z -l starttls -d 'Use StartTLS on an ldap:// connection (like ldapsearch -Z)'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l anonymous -d 'Bind anonymously (only when explicitly asked)'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l allow-cleartext-bind -d 'Allow a simple bind over an unencrypted connection (the password crosses the network in clear text). Refused otherwise'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l key-unencrypted -d 'The signing key has no password (made with `keygen --unencrypted` or `minisign -G -W`)'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l pki -d 'Carry the directory\'s CA certificates and CRLs in the bundle, so that the importer can build certification paths and check revocation offline. LDAP: read from `CN=Public Key Services,CN=Services` in the configuration partition (Certification Authorities, AIA, CDP, NTAuthCertificates, Enrollment Services); LDIF: the CA objects the dump holds. An importer older than format revision 1.3 refuses such a bundle'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l only-usable -d 'Leave out values that hold no usable certificate (by default the bundle records every value found, classified: it is an audit snapshot)'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l contacts -d 'Export mail contacts as well as users'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l include-disabled -d 'Export disabled accounts as well'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l json -d 'Print the summary as JSON on standard output'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -s q -l quiet -d 'No progress bar and no summary text'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l allow-empty -d 'Write a bundle even when no object with a certificate value is found. Refused by default: an empty snapshot usually means a wrong base DN or filter, or a cut dump'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -l allow-shrink -d 'Accept this once when the snapshot is smaller than the last one from this source by more than the shrink limits (the next run compares with this one)'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldap" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l source-id -d 'A short, stable name for this directory, e.g. `contoso-ad` ([a-z0-9._-], at most 64)' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -s o -l out -d 'Directory to write the bundle and its signature into' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l key -d 'The exporter\'s secret signing key (minisign format)' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l key-password-file -d 'Read the signing key\'s password from this file' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l key-password-env -d 'Read the signing key\'s password from this environment variable' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l state -d 'Export state file (last sequence number and hash per source). Default: `$XDG_STATE_HOME/certferry/export-SOURCE_ID.json`' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l expires-in -d 'How long the importer may accept the bundle: e.g. 7d, 36h, 90m' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l trusted-ca -d 'PEM file of the CAs you pin (issuing CAs, or your root): certificates without a certification path to one of them are classified `untrusted-issuer`. May be repeated' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l intermediate-ca -d 'PEM file of intermediate CA certificates that may help build that path (never trusted for themselves). May be repeated' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l pki-ca-file -d 'Carry the CA certificates of this file too (PEM or DER). May be repeated; implies carrying CA material. (`--ca-file` of `ldap` is the TLS trust file for the server, not this.)' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l pki-crl-file -d 'Carry the CRLs of this file too (PEM or DER, complete or delta). May be repeated; implies carrying CA material' -r -F
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l max-shrink -d 'Refuse a snapshot whose entries or usable certificates drop by more than this many since the last one (Entra Connect\'s deletion threshold)' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l max-shrink-percent -d 'Refuse a snapshot whose entries or usable certificates drop by more than this percentage since the last one (drops of fewer than 10 are never refused by this limit)' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l created -d 'Use this creation time instead of the clock (YYYY-MM-DDTHH:MM:SSZ), for reproducible exports: the same directory and time give the same bytes' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l bundle-revision -d 'The bundle format revision to write. 1.4 says each fact once (the certificates\' descriptions are left to the verifier, which derives them from the bytes anyway) and deflates the three text members: about half the bytes of 1.3. Write 1.3 only for an importer older than 1.4, which refuses a 1.4 bundle (it never misreads one)' -r -f -a "1.3\t'Every member stored, every certificate described: read by every importer'
1.4\t'Lean certificate objects, three text members deflated'"
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l part-size -d 'A snapshot larger than this is written in parts (format revision 1.4): part files of about this size and a signed part index (`certferry-SOURCE-SEQUENCE.sha256`) that names them, so that no file outgrows the removable media or the importer\'s memory (the importer holds about five times one part while it verifies it, the next part being read meanwhile: about 0.7 GB at the default). Bytes, or with K, M or G (powers of 1024), from 16K to 1536M. Ship every part with the index. Not with --bundle-revision 1.3, which is one file' -r
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l key-unencrypted -d 'The signing key has no password (made with `keygen --unencrypted` or `minisign -G -W`)'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l pki -d 'Carry the directory\'s CA certificates and CRLs in the bundle, so that the importer can build certification paths and check revocation offline. LDAP: read from `CN=Public Key Services,CN=Services` in the configuration partition (Certification Authorities, AIA, CDP, NTAuthCertificates, Enrollment Services); LDIF: the CA objects the dump holds. An importer older than format revision 1.3 refuses such a bundle'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l only-usable -d 'Leave out values that hold no usable certificate (by default the bundle records every value found, classified: it is an audit snapshot)'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l contacts -d 'Export mail contacts as well as users'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l include-disabled -d 'Export disabled accounts as well'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l json -d 'Print the summary as JSON on standard output'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -s q -l quiet -d 'No progress bar and no summary text'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l allow-empty -d 'Write a bundle even when no object with a certificate value is found. Refused by default: an empty snapshot usually means a wrong base DN or filter, or a cut dump'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -l allow-shrink -d 'Accept this once when the snapshot is smaller than the last one from this source by more than the shrink limits (the next run compares with this one)'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand ldif" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand help; and not __fish_seen_subcommand_from keygen ldap ldif help" -f -a "keygen" -d 'Create a minisign-compatible signing key pair for this exporter'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand help; and not __fish_seen_subcommand_from keygen ldap ldif help" -f -a "ldap" -d 'Export from a directory server over LDAP (StartTLS) or LDAPS'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand help; and not __fish_seen_subcommand_from keygen ldap ldif help" -f -a "ldif" -d 'Export from an LDIF dump (ldifde -f, ldapsearch -LLL)'
complete -c certferry-export -n "__fish_certferry_export_using_subcommand help; and not __fish_seen_subcommand_from keygen ldap ldif help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
