# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_certferry_import_global_optspecs
    string join \n h/help V/version
end

function __fish_certferry_import_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_certferry_import_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_certferry_import_using_subcommand
    set -l cmd (__fish_certferry_import_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c certferry-import -n "__fish_certferry_import_needs_command" -s h -l help -d 'Print help'
complete -c certferry-import -n "__fish_certferry_import_needs_command" -s V -l version -d 'Print version'
complete -c certferry-import -n "__fish_certferry_import_needs_command" -f -a "verify" -d 'Verify a bundle offline (size limits, signatures and roles, format, replay rules) and apply the certificate policy to every certificate'
complete -c certferry-import -n "__fish_certferry_import_needs_command" -f -a "review" -d 'Show what a bundle would change compared with the last bundle imported from the same source, as text, CSV and HTML'
complete -c certferry-import -n "__fish_certferry_import_needs_command" -f -a "approve" -d 'Add your reviewer signature to a bundle that verifies'
complete -c certferry-import -n "__fish_certferry_import_needs_command" -f -a "script" -d 'Write a PowerShell script (ExchangeOnlineManagement) that publishes the certificates that pass the policy'
complete -c certferry-import -n "__fish_certferry_import_needs_command" -f -a "trust-store" -d 'Write the trust store Exchange Online validates S/MIME certificates against: the pinned and intermediate CA certificates that the accepted certificates of a bundle chain to, as an SST file for `Set-SmimeConfig -SMIMECertificateIssuingCA`'
complete -c certferry-import -n "__fish_certferry_import_needs_command" -f -a "status" -d 'Show each source\'s last imported bundle'
complete -c certferry-import -n "__fish_certferry_import_needs_command" -f -a "history" -d 'Show which certificates a recipient (or a certificate) had after each import'
complete -c certferry-import -n "__fish_certferry_import_needs_command" -f -a "plan" -d 'Compare a verified bundle with the tenant and show what `apply` would write: per recipient unchanged, to change (added and removed certificates), unmatched, ambiguous (never written), skipped (synced from on-premises) or over the 15-value cap. `--out` saves the plan for `apply --plan`'
complete -c certferry-import -n "__fish_certferry_import_needs_command" -f -a "apply" -d 'Write the certificates into Exchange Online: verify, plan, write each changed attribute as its complete value set, read it back to confirm, log every write to the audit log, and record the bundle as imported only when every write succeeded. Safe to run again after an interruption: what was written is then unchanged and is not written twice'
complete -c certferry-import -n "__fish_certferry_import_needs_command" -f -a "doctor" -d 'Check the connection to a tenant before the first import, writing nothing: the token, the app\'s role (a harmless read of each recipient kind), the forms the service uses for certificate values in its answers, throttling headers, clock skew, the write form proven on this tenant, and a verdict with what to fix'
complete -c certferry-import -n "__fish_certferry_import_needs_command" -f -a "archive" -d 'Audit a folder of archived bundles: verify each one, check each source\'s chain (sequence gaps, forks, broken hash links), and answer which certificates an address had in each snapshot (--address) or which snapshots and users carried a certificate (--thumbprint)'
complete -c certferry-import -n "__fish_certferry_import_needs_command" -f -a "mark-imported" -d 'Maintenance: record a verified bundle as imported (what `apply` does once every write succeeded). Use only after publishing it by other means'
complete -c certferry-import -n "__fish_certferry_import_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand verify" -l policy -d 'The trust policy file (TOML)' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand verify" -l state -d 'Use this import state database instead of the policy\'s [state] path' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand verify" -l signature -d 'A signature file; may be repeated. Default: every <BUNDLE>.minisig and <BUNDLE>.*.minisig beside the bundle' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand verify" -l now -d 'Evaluate at this time (YYYY-MM-DDTHH:MM:SSZ) instead of the clock' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand verify" -l json -d 'Print the result as JSON on standard output'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand verify" -s h -l help -d 'Print help'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand review" -l policy -d 'The trust policy file (TOML)' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand review" -l state -d 'Use this import state database instead of the policy\'s [state] path' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand review" -l signature -d 'A signature file; may be repeated. Default: every <BUNDLE>.minisig and <BUNDLE>.*.minisig beside the bundle' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand review" -l now -d 'Evaluate at this time (YYYY-MM-DDTHH:MM:SSZ) instead of the clock' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand review" -l csv -d 'Also write the report as CSV (the report whose SHA-256 is printed)' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand review" -l html -d 'Also write the report as a self-contained HTML page' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand review" -l json -d 'Print the result as JSON on standard output'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand review" -s h -l help -d 'Print help'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand approve" -l policy -d 'The trust policy file (TOML)' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand approve" -l state -d 'Use this import state database instead of the policy\'s [state] path' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand approve" -l signature -d 'A signature file; may be repeated. Default: every <BUNDLE>.minisig and <BUNDLE>.*.minisig beside the bundle' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand approve" -l now -d 'Evaluate at this time (YYYY-MM-DDTHH:MM:SSZ) instead of the clock' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand approve" -l key -d 'Your reviewer secret key (minisign format)' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand approve" -l key-password-file -d 'Read the key\'s password from this file' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand approve" -l key-password-env -d 'Read the key\'s password from this environment variable' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand approve" -l json -d 'Print the result as JSON on standard output'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand approve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand script" -l policy -d 'The trust policy file (TOML)' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand script" -l state -d 'Use this import state database instead of the policy\'s [state] path' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand script" -l signature -d 'A signature file; may be repeated. Default: every <BUNDLE>.minisig and <BUNDLE>.*.minisig beside the bundle' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand script" -l now -d 'Evaluate at this time (YYYY-MM-DDTHH:MM:SSZ) instead of the clock' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand script" -l out -d 'Where to write the script (.ps1); an existing file is replaced atomically' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand script" -l json -d 'Print the result as JSON on standard output'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand script" -l create-contacts -d 'Create mail contacts that do not exist in the tenant yet (New-MailContact)'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand script" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand trust-store" -l policy -d 'The trust policy file (TOML)' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand trust-store" -l state -d 'Use this import state database instead of the policy\'s [state] path' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand trust-store" -l signature -d 'A signature file; may be repeated. Default: every <BUNDLE>.minisig and <BUNDLE>.*.minisig beside the bundle' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand trust-store" -l now -d 'Evaluate at this time (YYYY-MM-DDTHH:MM:SSZ) instead of the clock' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand trust-store" -l out -d 'Where to write the store (.sst); an existing file is replaced atomically' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand trust-store" -l tenant -d 'The tenant configuration for --apply (default: tenant.toml next to the policy)' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand trust-store" -l script -d 'Write a PowerShell script that uploads the store with Microsoft\'s ExchangeOnlineManagement module instead (it shows the current collection first; -WhatIf previews)' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand trust-store" -l json -d 'Print the result as JSON on standard output'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand trust-store" -l apply -d 'Upload the store to the tenant with Set-SmimeConfig -SMIMECertificateIssuingCA, after reading its current collection with Get-SmimeConfig and showing what changes. The upload replaces the whole collection: the tenant\'s other CA certificates that are still valid are uploaded with it, unless --replace'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand trust-store" -l replace -d 'With --apply: upload exactly this store, dropping every other CA certificate from the tenant\'s collection (needed when the service does not show its current collection)'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand trust-store" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand status" -l policy -d 'The trust policy file (TOML)' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand status" -l state -d 'Use this import state database instead of the policy\'s [state] path' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand status" -l json -d 'Print the result as JSON on standard output'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand status" -s h -l help -d 'Print help'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand history" -l policy -d 'The trust policy file (TOML)' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand history" -l state -d 'Use this import state database instead of the policy\'s [state] path' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand history" -l address -d 'The recipients having this SMTP address' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand history" -l thumbprint -d 'The recipients having the certificate with this SHA-1 thumbprint (or certificate or value SHA-256)' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand history" -l json -d 'Print the result as JSON on standard output'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand history" -s h -l help -d 'Print help'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand plan" -l policy -d 'The trust policy file (TOML)' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand plan" -l state -d 'Use this import state database instead of the policy\'s [state] path' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand plan" -l signature -d 'A signature file; may be repeated. Default: every <BUNDLE>.minisig and <BUNDLE>.*.minisig beside the bundle' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand plan" -l now -d 'Evaluate at this time (YYYY-MM-DDTHH:MM:SSZ) instead of the clock' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand plan" -l tenant -d 'The tenant configuration (TOML: tenant, client_id, cloud, certificate, ...). Default: tenant.toml next to the policy file' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand plan" -l match-by -d 'How to match bundle entries to recipients: smtp (mail and smtp: proxy addresses), upn, or immutable-id (base64 of the objectGUID against the recipient\'s ImmutableId)' -r -f -a "smtp\t'The entry\'s mail and smtp: proxy addresses against the recipient\'s addresses'
upn\t'The entry\'s userPrincipalName against the recipient\'s'
immutable-id\t'base64 of the entry\'s objectGUID against the recipient\'s ImmutableId'"
complete -c certferry-import -n "__fish_certferry_import_using_subcommand plan" -l out -d 'Save the plan (JSON) for `apply --plan`' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand plan" -l json -d 'Print the result as JSON on standard output'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand plan" -l create-contacts -d 'Create a mail contact for an entry that matches no recipient'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand plan" -l prune -d 'Remove certificates that certferry itself wrote earlier for this source and that the bundle no longer has. Values written by anyone else are never removed'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand apply" -l policy -d 'The trust policy file (TOML)' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand apply" -l state -d 'Use this import state database instead of the policy\'s [state] path' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand apply" -l signature -d 'A signature file; may be repeated. Default: every <BUNDLE>.minisig and <BUNDLE>.*.minisig beside the bundle' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand apply" -l now -d 'Evaluate at this time (YYYY-MM-DDTHH:MM:SSZ) instead of the clock' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand apply" -l tenant -d 'The tenant configuration (TOML: tenant, client_id, cloud, certificate, ...). Default: tenant.toml next to the policy file' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand apply" -l match-by -d 'How to match bundle entries to recipients: smtp (mail and smtp: proxy addresses), upn, or immutable-id (base64 of the objectGUID against the recipient\'s ImmutableId)' -r -f -a "smtp\t'The entry\'s mail and smtp: proxy addresses against the recipient\'s addresses'
upn\t'The entry\'s userPrincipalName against the recipient\'s'
immutable-id\t'base64 of the entry\'s objectGUID against the recipient\'s ImmutableId'"
complete -c certferry-import -n "__fish_certferry_import_using_subcommand apply" -l plan -d 'Apply only if the tenant still matches this saved plan (from `plan --out`)' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand apply" -l audit-log -d 'Append every write to this audit log (JSON lines). Default: the state file\'s path with `.audit.jsonl` appended' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand apply" -l review-sha256 -d 'The SHA-256 of the review report the reviewer approved, recorded with the import' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand apply" -l concurrency -d 'Writes in flight at once (1 to 64; default: tenant.toml\'s `concurrency`, else 8)' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand apply" -l json -d 'Print the result as JSON on standard output'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand apply" -l create-contacts -d 'Create a mail contact for an entry that matches no recipient'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand apply" -l prune -d 'Remove certificates that certferry itself wrote earlier for this source and that the bundle no longer has. Values written by anyone else are never removed'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand apply" -l reapply -d 'Write the last imported bundle again, to undo drift that `plan` showed (someone changed certificates in the cloud). Without it, apply refuses a bundle that was already imported. The import record is not changed'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand apply" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand doctor" -l tenant -d 'The tenant configuration (TOML). Default: tenant.toml next to --policy' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand doctor" -l policy -d 'The trust policy file: its state database tells which write form was proven on this tenant' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand doctor" -l state -d 'Use this import state database instead of the policy\'s [state] path' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand doctor" -l sample -d 'Recipients read of each kind (one page; at most 1000)' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand doctor" -l json -d 'Print the findings as JSON on standard output'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand archive" -l policy -d 'The trust policy file (TOML): its signers and thresholds judge each bundle' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand archive" -l address -d 'The certificates this SMTP address had in each snapshot' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand archive" -l thumbprint -d 'The snapshots and users that carried this certificate (SHA-1 or SHA-256, hex)' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand archive" -l csv -d 'Write the answer as CSV to this file' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand archive" -l json -d 'Print everything as JSON'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand archive" -s h -l help -d 'Print help'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand mark-imported" -l policy -d 'The trust policy file (TOML)' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand mark-imported" -l state -d 'Use this import state database instead of the policy\'s [state] path' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand mark-imported" -l signature -d 'A signature file; may be repeated. Default: every <BUNDLE>.minisig and <BUNDLE>.*.minisig beside the bundle' -r -F
complete -c certferry-import -n "__fish_certferry_import_using_subcommand mark-imported" -l now -d 'Evaluate at this time (YYYY-MM-DDTHH:MM:SSZ) instead of the clock' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand mark-imported" -l review-sha256 -d 'The SHA-256 of the review report the reviewer approved' -r
complete -c certferry-import -n "__fish_certferry_import_using_subcommand mark-imported" -l json -d 'Print the result as JSON on standard output'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand mark-imported" -s h -l help -d 'Print help'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand help; and not __fish_seen_subcommand_from verify review approve script trust-store status history plan apply doctor archive mark-imported help" -f -a "verify" -d 'Verify a bundle offline (size limits, signatures and roles, format, replay rules) and apply the certificate policy to every certificate'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand help; and not __fish_seen_subcommand_from verify review approve script trust-store status history plan apply doctor archive mark-imported help" -f -a "review" -d 'Show what a bundle would change compared with the last bundle imported from the same source, as text, CSV and HTML'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand help; and not __fish_seen_subcommand_from verify review approve script trust-store status history plan apply doctor archive mark-imported help" -f -a "approve" -d 'Add your reviewer signature to a bundle that verifies'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand help; and not __fish_seen_subcommand_from verify review approve script trust-store status history plan apply doctor archive mark-imported help" -f -a "script" -d 'Write a PowerShell script (ExchangeOnlineManagement) that publishes the certificates that pass the policy'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand help; and not __fish_seen_subcommand_from verify review approve script trust-store status history plan apply doctor archive mark-imported help" -f -a "trust-store" -d 'Write the trust store Exchange Online validates S/MIME certificates against: the pinned and intermediate CA certificates that the accepted certificates of a bundle chain to, as an SST file for `Set-SmimeConfig -SMIMECertificateIssuingCA`'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand help; and not __fish_seen_subcommand_from verify review approve script trust-store status history plan apply doctor archive mark-imported help" -f -a "status" -d 'Show each source\'s last imported bundle'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand help; and not __fish_seen_subcommand_from verify review approve script trust-store status history plan apply doctor archive mark-imported help" -f -a "history" -d 'Show which certificates a recipient (or a certificate) had after each import'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand help; and not __fish_seen_subcommand_from verify review approve script trust-store status history plan apply doctor archive mark-imported help" -f -a "plan" -d 'Compare a verified bundle with the tenant and show what `apply` would write: per recipient unchanged, to change (added and removed certificates), unmatched, ambiguous (never written), skipped (synced from on-premises) or over the 15-value cap. `--out` saves the plan for `apply --plan`'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand help; and not __fish_seen_subcommand_from verify review approve script trust-store status history plan apply doctor archive mark-imported help" -f -a "apply" -d 'Write the certificates into Exchange Online: verify, plan, write each changed attribute as its complete value set, read it back to confirm, log every write to the audit log, and record the bundle as imported only when every write succeeded. Safe to run again after an interruption: what was written is then unchanged and is not written twice'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand help; and not __fish_seen_subcommand_from verify review approve script trust-store status history plan apply doctor archive mark-imported help" -f -a "doctor" -d 'Check the connection to a tenant before the first import, writing nothing: the token, the app\'s role (a harmless read of each recipient kind), the forms the service uses for certificate values in its answers, throttling headers, clock skew, the write form proven on this tenant, and a verdict with what to fix'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand help; and not __fish_seen_subcommand_from verify review approve script trust-store status history plan apply doctor archive mark-imported help" -f -a "archive" -d 'Audit a folder of archived bundles: verify each one, check each source\'s chain (sequence gaps, forks, broken hash links), and answer which certificates an address had in each snapshot (--address) or which snapshots and users carried a certificate (--thumbprint)'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand help; and not __fish_seen_subcommand_from verify review approve script trust-store status history plan apply doctor archive mark-imported help" -f -a "mark-imported" -d 'Maintenance: record a verified bundle as imported (what `apply` does once every write succeeded). Use only after publishing it by other means'
complete -c certferry-import -n "__fish_certferry_import_using_subcommand help; and not __fish_seen_subcommand_from verify review approve script trust-store status history plan apply doctor archive mark-imported help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
