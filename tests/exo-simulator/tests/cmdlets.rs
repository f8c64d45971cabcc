//! InvokeCommand: each cmdlet, identity lookup, strict parameters and byte arrays, the
//! 15-value cap, the write scope of synced objects, headers and error shapes.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};

fn ids(r: &Reply, member: &str) -> Vec<String> {
    r.values()
        .iter()
        .map(|v| v[member].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn get_cmdlets_return_only_their_kind_with_every_member() {
    let sim = start();
    let t = token(&sim);
    let r = invoke(&sim, &t, "Get-Mailbox", json!({"ResultSize": "Unlimited"}));
    assert_eq!(r.status, 200);
    assert!(r.body["@odata.context"]
        .as_str()
        .unwrap()
        .starts_with(&sim.base_url()));
    assert!(r.body.get("@odata.nextLink").is_none());
    let names = ids(&r, "Identity");
    assert_eq!(
        names,
        [
            "alice", "bob", "carol", "caroline", "dave", "erin", "grace", "heidi", "ivan",
            "mallory", "oscar", "peggy", "trudy", "victor", "walter"
        ]
    );
    assert!(r
        .values()
        .iter()
        .all(|v| v["RecipientTypeDetails"] == "UserMailbox"));
    let alice = &r.values()[0];
    for m in exo_simulator::tenant::RECIPIENT_MEMBERS {
        assert!(alice.get(*m).is_some(), "member {m} missing");
    }
    assert_eq!(alice["PrimarySmtpAddress"], "alice@contoso.test");
    assert_eq!(alice["UserPrincipalName"], "alice@contoso.test");
    assert_eq!(alice["IsDirSynced"], false);
    assert_eq!(alice["UserCertificate"], served(&[&foreign_cert()]));
    assert_eq!(alice["UserCertificate@odata.type"], "#Collection(String)");
    assert_eq!(alice["UserSMimeCertificate"], json!([]));

    let r = invoke(&sim, &t, "Get-MailUser", json!({"ResultSize": "Unlimited"}));
    assert_eq!(ids(&r, "Identity"), ["frank"]);
    assert_eq!(r.values()[0]["RecipientTypeDetails"], "MailUser");
    let r = invoke(
        &sim,
        &t,
        "Get-MailContact",
        json!({"ResultSize": "Unlimited"}),
    );
    assert_eq!(ids(&r, "Identity"), ["partner", "fabrikam-sales"]);
    assert_eq!(r.values()[0]["UserPrincipalName"], Value::Null);
    // judy has no recipient at all.
    for c in ["Get-Mailbox", "Get-MailUser", "Get-MailContact"] {
        let r = invoke(&sim, &t, c, json!({"Identity": "judy@contoso.test"}));
        assert_eq!(r.status, 404);
    }
    // synced flags
    let trudy = sim.recipient("trudy@contoso.test").unwrap();
    assert!(trudy.is_dir_synced && !trudy.is_exchange_cloud_managed);
    let walter = sim.recipient("walter@contoso.test").unwrap();
    assert!(walter.is_dir_synced && walter.is_exchange_cloud_managed);
    assert_eq!(walter.display_name, "Walter Weiß");
}

#[test]
fn identity_is_looked_up_by_id_primary_or_any_smtp_address_within_the_kind() {
    let sim = start();
    let t = token(&sim);
    let carol = sim.recipient("carol@legacy.contoso.test").unwrap();
    for identity in [
        carol.external_directory_object_id.clone(),
        carol.external_directory_object_id.to_uppercase(),
        "cclark@contoso.test".to_owned(),
        "CCLARK@Contoso.Test".to_owned(),
        "smtp:carol@legacy.contoso.test".to_owned(),
    ] {
        let r = invoke(&sim, &t, "Get-Mailbox", json!({"Identity": identity}));
        assert_eq!(r.status, 200, "{identity}: {:?}", r.body);
        assert_eq!(ids(&r, "Identity"), ["carol"], "{identity}");
    }
    // carol@contoso.test is held by carol and caroline: ambiguous.
    let r = invoke(
        &sim,
        &t,
        "Get-Mailbox",
        json!({"Identity": "carol@contoso.test"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.exception().unwrap(), "ManagementObjectAmbiguousException");
    // Kind must match: frank is a MailUser.
    let r = invoke(
        &sim,
        &t,
        "Get-Mailbox",
        json!({"Identity": "frank@contoso.test"}),
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.exception().unwrap(), "ManagementObjectNotFoundException");
    let r = invoke(
        &sim,
        &t,
        "Get-MailUser",
        json!({"Identity": "frank@contoso.test"}),
    );
    assert_eq!(ids(&r, "Identity"), ["frank"]);
    // Any EmailAddresses entry: non-SMTP ones with their prefix.
    let r = invoke(
        &sim,
        &t,
        "Get-MailUser",
        json!({"Identity": "sip:frank@contoso.test"}),
    );
    assert_eq!(ids(&r, "Identity"), ["frank"]);
    let x500 = "X500:/o=ContosoOrg/ou=Exchange Administrative Group/cn=Recipients/cn=alice";
    let r = invoke(&sim, &t, "Get-Mailbox", json!({"Identity": x500}));
    assert_eq!(ids(&r, "Identity"), ["alice"]);
    // Name and bare non-SMTP addresses do not resolve.
    for identity in [
        "alice",
        "/o=ContosoOrg/ou=Exchange Administrative Group/cn=Recipients/cn=alice",
    ] {
        assert_eq!(
            invoke(&sim, &t, "Get-Mailbox", json!({"Identity": identity})).status,
            404,
            "{identity}"
        );
    }
}

#[test]
fn set_replaces_the_whole_value_set_and_counts_writes() {
    let sim = start();
    let t = token(&sim);
    let alice = sim.recipient("alice@contoso.test").unwrap();
    let (a, f) = (pki("alice.der"), foreign_cert());
    let r = invoke(
        &sim,
        &t,
        "Set-Mailbox",
        json!({"Identity": alice.external_directory_object_id, "UserCertificate": values(&[&f, &a])}),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["value"], json!([]));
    let now = sim.recipient("alice@contoso.test").unwrap();
    assert_eq!(now.user_certificate, vec![f.clone(), a.clone()]);
    assert!(now.user_smime_certificate.is_empty());
    // Both attributes at once, by secondary address; the set replaces (f is gone).
    let smime =
        std::fs::read(exo_simulator::tenant::fixture_dir().join("../pki/smime/ivan.p7s")).unwrap();
    let r = invoke(
        &sim,
        &t,
        "Set-Mailbox",
        json!({"Identity": "alice.anderson@contoso.test", "UserCertificate": values(&[&a]),
               "UserSMimeCertificate": values(&[&smime])}),
    );
    assert_eq!(r.status, 200);
    assert!(r.body.get("@adminapi.warnings").is_none());
    let now = sim.recipient(&alice.external_directory_object_id).unwrap();
    assert_eq!(now.user_certificate, vec![a.clone()]);
    assert_eq!(now.user_smime_certificate, vec![smime]);
    // The same again: applied, unchanged, with the service's warning.
    let r = invoke(
        &sim,
        &t,
        "Set-Mailbox",
        json!({"Identity": "alice@contoso.test", "UserCertificate": values(&[&a])}),
    );
    assert_eq!(r.status, 200);
    assert!(r.body["@adminapi.warnings"][0]
        .as_str()
        .unwrap()
        .contains("no settings"));
    // An empty array clears.
    let r = invoke(
        &sim,
        &t,
        "Set-Mailbox",
        json!({"Identity": "alice@contoso.test", "UserSMimeCertificate": []}),
    );
    assert_eq!(r.status, 200);
    assert!(sim
        .recipient("alice@contoso.test")
        .unwrap()
        .user_smime_certificate
        .is_empty());
    assert_eq!(sim.writes_to("alice@contoso.test"), 4);
    // Identity alone writes nothing and is not counted.
    let r = invoke(
        &sim,
        &t,
        "Set-Mailbox",
        json!({"Identity": "alice@contoso.test"}),
    );
    assert_eq!(r.status, 200);
    assert!(r.body["@adminapi.warnings"][0]
        .as_str()
        .unwrap()
        .contains("no settings"));
    assert_eq!(sim.writes_to("alice@contoso.test"), 4);
    // Reading back gives the same bytes.
    let r = invoke(
        &sim,
        &t,
        "Get-Mailbox",
        json!({"Identity": "alice@contoso.test"}),
    );
    assert_eq!(r.values()[0]["UserCertificate"], served(&[&a]));

    // Set-MailUser, Set-MailContact.
    let r = invoke(
        &sim,
        &t,
        "Set-MailUser",
        json!({"Identity": "frank@contoso.test", "UserCertificate": values(&[&pki("frank.der")])}),
    );
    assert_eq!(r.status, 200);
    let r = invoke(
        &sim,
        &t,
        "Set-MailContact",
        json!({"Identity": "partner@fabrikam.test", "UserCertificate": values(&[&pki("partner.der")])}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        sim.recipient("partner@fabrikam.test")
            .unwrap()
            .user_certificate,
        vec![pki("partner.der")]
    );
    let counts = sim.write_counts();
    assert_eq!(counts.values().sum::<u64>(), 6);
    assert_eq!(counts.len(), 3);
    // The log has every write with its request id.
    let log = sim.log();
    let writes: Vec<_> = log.iter().filter(|e| e.applied).collect();
    assert_eq!(writes.len(), 6);
    assert_eq!(writes[0].cmdlet.as_deref(), Some("Set-Mailbox"));
    assert_eq!(writes[0].parameters, "Identity, UserCertificate[2]");
    assert_eq!(
        writes[0].target.as_deref(),
        Some(alice.external_directory_object_id.as_str())
    );
}

#[test]
fn kind_must_match_on_set() {
    let sim = start();
    let t = token(&sim);
    let frank = sim.recipient("frank@contoso.test").unwrap();
    for identity in [
        frank.external_directory_object_id.as_str(),
        "frank@contoso.test",
    ] {
        let r = invoke(
            &sim,
            &t,
            "Set-Mailbox",
            json!({"Identity": identity, "UserCertificate": []}),
        );
        assert_eq!(r.status, 404);
        assert_eq!(r.exception().unwrap(), "ManagementObjectNotFoundException");
        assert!(r.body["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains(
                "|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|"
            ));
    }
    let r = invoke(
        &sim,
        &t,
        "Set-MailContact",
        json!({"Identity": "alice@contoso.test", "UserCertificate": []}),
    );
    assert_eq!(r.status, 404);
    let r = invoke(
        &sim,
        &t,
        "Set-Mailbox",
        json!({"Identity": "carol@contoso.test", "UserCertificate": []}),
    );
    assert_eq!(r.exception().unwrap(), "ManagementObjectAmbiguousException");
    assert_eq!(sim.write_counts().len(), 0);
}

#[test]
fn default_dialect_binds_both_readings_of_byte_array_type_and_refuses_the_rest() {
    let sim = start();
    let t = token(&sim);
    let a = pki("alice.der");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&a);
    for (what, v) in [
        ("data-base64", json!([{"Data": b64.clone()}])),
        ("data-integers", json!([{"Data": a.clone()}])),
    ] {
        let r = invoke(
            &sim,
            &t,
            "Set-Mailbox",
            json!({"Identity": "bob@contoso.test", "UserCertificate": v}),
        );
        assert_eq!(r.status, 200, "{what}: {}", r.message());
        assert_eq!(
            sim.recipient("bob@contoso.test").unwrap().user_certificate,
            vec![a.clone()]
        );
    }
    let cases = [
        (
            "bare string",
            json!([b64.clone()]),
            "Cannot convert value 0",
        ),
        (
            "not an array",
            json!({"Data": b64.clone()}),
            "expected a JSON array",
        ),
        ("null", Value::Null, "expected a JSON array"),
        (
            "extra member",
            json!([{"Data": b64.clone(), "Length": a.len()}]),
            "Cannot convert value 0",
        ),
        (
            "lowercase data",
            json!([{"data": b64.clone()}]),
            "Cannot convert value 0",
        ),
        (
            "url-safe base64",
            json!([{"Data": base64::engine::general_purpose::URL_SAFE.encode(&a)}]),
            "Cannot convert value 0",
        ),
        (
            "no padding",
            json!([{"Data": base64::engine::general_purpose::STANDARD_NO_PAD.encode(&a[..10])}]),
            "Cannot convert value 0",
        ),
        (
            "line breaks",
            json!([{"Data": format!("{}\n{}", &b64[..64], &b64[64..])}]),
            "Cannot convert value 0",
        ),
        (
            "integer out of range",
            json!([{"Data": [256]}]),
            "Cannot convert value 0",
        ),
        ("empty", json!([{"Data": ""}]), "empty"),
    ];
    for (what, v, needle) in cases {
        let r = invoke(
            &sim,
            &t,
            "Set-Mailbox",
            json!({"Identity": "bob@contoso.test", "UserCertificate": v}),
        );
        assert_eq!(r.status, 400, "{what}");
        assert_eq!(
            r.exception().unwrap(),
            "ParameterBindingException",
            "{what}"
        );
        assert!(r.message().contains(needle), "{what}: {}", r.message());
        assert!(r.message().contains("UserCertificate"), "{what}");
    }
    assert_eq!(sim.writes_to("bob@contoso.test"), 2);
}

#[test]
fn each_dialect_answers_and_binds_its_own_forms() {
    use exo_simulator::{Dialect, EmptyOut, OtherWriteForm, ValuesOut, WriteForm};
    let sim = start();
    let t = token(&sim);
    let a = pki("alice.der");
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&a)
    };
    let url = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&a)
    };
    let get = |t: &str| {
        invoke(
            &sim,
            t,
            "Get-Mailbox",
            json!({"Identity": "alice@contoso.test"}),
        )
        .values()[0]
            .clone()
    };
    for (out, want, note) in [
        (
            ValuesOut::Strings,
            json!([b64.clone()]),
            Some("#Collection(String)"),
        ),
        (ValuesOut::StringsUnannotated, json!([b64.clone()]), None),
        (ValuesOut::StringsUrlSafe, json!([url.clone()]), None),
        (ValuesOut::DataBase64, json!([{"Data": b64.clone()}]), None),
        (
            ValuesOut::DataBase64Typed,
            json!([{"@odata.type": "#Exchange.ByteArrayType", "Data": b64.clone()}]),
            None,
        ),
        (ValuesOut::DataIntegers, json!([{"Data": a.clone()}]), None),
    ] {
        sim.modify_tenant(|tn| {
            let alice = tn
                .recipients
                .iter_mut()
                .find(|r| r.name == "alice")
                .unwrap();
            alice.user_certificate = vec![a.clone()];
        });
        sim.set_dialect(Dialect {
            values_out: out,
            ..Dialect::default()
        });
        let alice = get(&t);
        assert_eq!(alice["UserCertificate"], want, "{out:?}");
        assert_eq!(
            alice
                .get("UserCertificate@odata.type")
                .and_then(Value::as_str),
            note,
            "{out:?}"
        );
        assert_eq!(alice["UserSMimeCertificate"], json!([]), "{out:?}");
    }
    sim.set_dialect(Dialect {
        empty_out: EmptyOut::Null,
        immutable_id_member: false,
        ..Dialect::default()
    });
    let alice = get(&t);
    assert_eq!(alice["UserSMimeCertificate"], Value::Null);
    assert!(alice.get("ImmutableId").is_none());

    // Only bare strings bind; other forms are refused, or stored as other bytes.
    sim.set_dialect(Dialect::writes(
        &[WriteForm::Base64],
        OtherWriteForm::BindingError,
    ));
    let set = |v: Value| {
        invoke(
            &sim,
            &t,
            "Set-Mailbox",
            json!({"Identity": "bob@contoso.test", "UserCertificate": v}),
        )
    };
    assert_eq!(set(json!([b64.clone()])).status, 200);
    assert_eq!(
        sim.recipient("bob@contoso.test").unwrap().user_certificate,
        vec![a.clone()]
    );
    let r = set(json!([{"Data": b64.clone()}]));
    assert_eq!(r.exception().unwrap(), "ParameterBindingException");
    sim.set_dialect(Dialect::writes(
        &[WriteForm::DataIntegers],
        OtherWriteForm::StoreJsonText,
    ));
    assert_eq!(set(json!([{"Data": b64.clone()}])).status, 200);
    assert_eq!(
        sim.recipient("bob@contoso.test").unwrap().user_certificate,
        vec![format!("{{\"Data\":\"{b64}\"}}").into_bytes()],
        "a misbound value is stored as other bytes"
    );
}

#[test]
fn duplicate_values_in_one_set_are_refused() {
    let sim = start();
    let t = token(&sim);
    let a = pki("alice.der");
    // Duplicate values in one set.
    let r = invoke(
        &sim,
        &t,
        "Set-Mailbox",
        json!({"Identity": "bob@contoso.test", "UserCertificate": values(&[&a, &a])}),
    );
    assert_eq!(r.exception().unwrap(), "DataValidationException");
    assert_eq!(sim.writes_to("bob@contoso.test"), 0);
    assert!(sim
        .recipient("bob@contoso.test")
        .unwrap()
        .user_certificate
        .is_empty());
}

#[test]
fn more_than_15_values_are_refused() {
    let sim = start();
    let t = token(&sim);
    let oscar: Vec<Vec<u8>> = (1..=16)
        .map(|i| pki(&format!("oscar-{i:02}.der")))
        .collect();
    let refs: Vec<&[u8]> = oscar.iter().map(Vec::as_slice).collect();
    let r = invoke(
        &sim,
        &t,
        "Set-Mailbox",
        json!({"Identity": "oscar@contoso.test", "UserCertificate": values(&refs)}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.exception().unwrap(), "DataValidationException");
    assert!(r.message().contains("at most 15"), "{}", r.message());
    assert!(sim
        .recipient("oscar@contoso.test")
        .unwrap()
        .user_certificate
        .is_empty());
    let r = invoke(
        &sim,
        &t,
        "Set-Mailbox",
        json!({"Identity": "oscar@contoso.test", "UserSMimeCertificate": values(&refs)}),
    );
    assert_eq!(r.status, 400);
    let r = invoke(
        &sim,
        &t,
        "Set-Mailbox",
        json!({"Identity": "oscar@contoso.test", "UserCertificate": values(&refs[..15])}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        sim.recipient("oscar@contoso.test")
            .unwrap()
            .user_certificate
            .len(),
        15
    );
}

#[test]
fn synced_objects_are_out_of_write_scope_unless_cloud_managed() {
    let sim = start();
    let t = token(&sim);
    let r = invoke(
        &sim,
        &t,
        "Set-Mailbox",
        json!({"Identity": "trudy@contoso.test", "UserSMimeCertificate": []}),
    );
    assert_eq!(r.status, 400);
    // The public capture of this refusal carries System.InvalidOperationException.
    assert_eq!(r.exception().unwrap(), "System.InvalidOperationException");
    let m = r.message();
    assert!(m.contains("out of the current user's write scope"), "{m}");
    assert!(
        m.contains("being synchronized from your on-premises organization"),
        "{m}"
    );
    assert_eq!(sim.writes_to("trudy@contoso.test"), 0);
    let w = pki("walter.der");
    let r = invoke(
        &sim,
        &t,
        "Set-Mailbox",
        json!({"Identity": "walter@contoso.test", "UserCertificate": values(&[&w])}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        sim.recipient("walter@contoso.test")
            .unwrap()
            .user_certificate,
        vec![w]
    );
    // Switching trudy to cloud management makes her writable.
    sim.modify_tenant(|t| {
        let r = t.recipients.iter_mut().find(|r| r.name == "trudy").unwrap();
        r.is_exchange_cloud_managed = true;
    });
    let r = invoke(
        &sim,
        &t,
        "Set-Mailbox",
        json!({"Identity": "trudy@contoso.test", "UserSMimeCertificate": []}),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn new_mail_contact_creates_with_a_fresh_guid_and_refuses_duplicates() {
    let sim = start();
    let t = token(&sim);
    let r = invoke(
        &sim,
        &t,
        "New-MailContact",
        json!({"Name": "judy-ext", "DisplayName": "Judy Jones", "ExternalEmailAddress": "SMTP:judy@contoso.test"}),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    let c = &r.values()[0];
    let id = c["ExternalDirectoryObjectId"].as_str().unwrap();
    assert!(exo_simulator::tenant::is_guid(id));
    assert_eq!(c["RecipientTypeDetails"], "MailContact");
    assert_eq!(c["PrimarySmtpAddress"], "judy@contoso.test");
    assert_eq!(c["EmailAddresses"], json!(["SMTP:judy@contoso.test"]));
    assert_eq!(c["DisplayName"], "Judy Jones");
    assert_eq!(c["UserCertificate"], json!([]));
    // Then set its certificate.
    let j = pki("judy.der");
    let r = invoke(
        &sim,
        &t,
        "Set-MailContact",
        json!({"Identity": id, "UserCertificate": values(&[&j])}),
    );
    assert_eq!(r.status, 200);
    let r = invoke(
        &sim,
        &t,
        "Get-MailContact",
        json!({"Identity": "judy@contoso.test"}),
    );
    assert_eq!(r.values()[0]["UserCertificate"], served(&[&j]));
    // Duplicate address (also of a mailbox), duplicate name.
    for (name, addr, exc) in [
        (
            "judy-2",
            "SMTP:JUDY@contoso.test",
            "ProxyAddressExistsException",
        ),
        (
            "x",
            "SMTP:cclark@contoso.test",
            "ProxyAddressExistsException",
        ),
        (
            "judy-ext",
            "SMTP:other@fabrikam.test",
            "ADObjectAlreadyExistsException",
        ),
    ] {
        let r = invoke(
            &sim,
            &t,
            "New-MailContact",
            json!({"Name": name, "DisplayName": name, "ExternalEmailAddress": addr}),
        );
        assert_eq!(r.status, 400, "{addr}");
        assert_eq!(r.exception().unwrap(), exc);
    }
    // Address form.
    for bad in [
        "judy2@contoso.test",
        "SMTP:nobody",
        "smtp:lower@x.test",
        "SMTP:a b@x.test",
    ] {
        let r = invoke(
            &sim,
            &t,
            "New-MailContact",
            json!({"Name": "n", "DisplayName": "n", "ExternalEmailAddress": bad}),
        );
        assert_eq!(r.exception().unwrap(), "ParameterBindingException", "{bad}");
    }
    let long = "n".repeat(65);
    let r = invoke(
        &sim,
        &t,
        "New-MailContact",
        json!({"Name": long, "ExternalEmailAddress": "SMTP:n@x.test"}),
    );
    assert_eq!(r.exception().unwrap(), "DataValidationException");
    assert!(
        r.message().contains("maximum length is 64"),
        "{}",
        r.message()
    );
    let r = invoke(
        &sim,
        &t,
        "New-MailContact",
        json!({"DisplayName": "n", "ExternalEmailAddress": "SMTP:n@x.test"}),
    );
    assert_eq!(r.exception().unwrap(), "ParameterBindingException");
    let contacts = sim
        .state()
        .recipients
        .iter()
        .filter(|r| r.kind == exo_simulator::RecipientKind::MailContact)
        .count();
    assert_eq!(contacts, 3);
    let created: Vec<_> = sim
        .log()
        .into_iter()
        .filter(|e| e.cmdlet.as_deref() == Some("New-MailContact") && e.applied)
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].target.as_deref(), Some(id));
}

#[test]
fn unknown_cmdlets_and_parameters_are_parameter_binding_errors() {
    let sim = start();
    let t = token(&sim);
    for (cmdlet, params, needle) in [
        ("Get-Recipient", json!({}), "Get-Recipient"),
        ("get-mailbox", json!({}), "get-mailbox"),
        (
            "Set-RemoteMailbox",
            json!({"Identity": "alice@contoso.test"}),
            "Set-RemoteMailbox",
        ),
        ("Get-Mailbox", json!({"Filter": "x"}), "'Filter'"),
        (
            "Get-Mailbox",
            json!({"identity": "alice@contoso.test"}),
            "'identity'",
        ),
        (
            "Set-Mailbox",
            json!({"Identity": "alice@contoso.test", "UserSmimeCertificate": []}),
            "'UserSmimeCertificate'",
        ),
        (
            "Set-Mailbox",
            json!({"Identity": "alice@contoso.test", "IsExchangeCloudManaged": true}),
            "'IsExchangeCloudManaged'",
        ),
        (
            "New-MailContact",
            json!({"Name": "x", "ExternalEmailAddress": "SMTP:x@x.test", "UserCertificate": []}),
            "'UserCertificate'",
        ),
        ("Set-Mailbox", json!({"UserCertificate": []}), "Identity"),
        ("Get-Mailbox", json!({"ResultSize": "all"}), "ResultSize"),
        ("Get-Mailbox", json!({"ResultSize": 0}), "ResultSize"),
        ("Get-Mailbox", json!({"Identity": 5}), "Identity"),
    ] {
        let r = invoke(&sim, &t, cmdlet, params);
        assert_eq!(r.status, 400, "{cmdlet}");
        assert_eq!(
            r.exception().as_deref(),
            Some("ParameterBindingException"),
            "{cmdlet}: {:?}",
            r.body
        );
        assert!(r.message().contains(needle), "{cmdlet}: {}", r.message());
        let e = &r.body["error"];
        assert!(
            e["code"].is_string()
                && e["details"][0]["message"].is_string()
                && e["innererror"].is_object()
        );
    }
}

#[test]
fn protocol_headers_and_body_shape_are_enforced() {
    let sim = start();
    let t = token(&sim);
    let good = protocol_headers(&sim, &t);
    let b = body("Get-Mailbox", json!({"Identity": "bob@contoso.test"}));
    let send = |headers: &[(String, String)], body: &str| {
        post(&sim.invoke_url(), headers, body.to_owned()).unwrap()
    };
    let r = send(&good, &b);
    assert_eq!(r.status, 200);
    let sent = &good
        .iter()
        .find(|(k, _)| k == "client-request-id")
        .unwrap()
        .1;
    assert_eq!(r.header("client-request-id").as_ref(), Some(sent));
    assert!(exo_simulator::tenant::is_guid(
        &r.header("request-id").unwrap()
    ));
    let without = |name: &str| -> Vec<(String, String)> {
        good.iter().filter(|(k, _)| k != name).cloned().collect()
    };
    let replaced = |name: &str, v: &str| -> Vec<(String, String)> {
        good.iter()
            .map(|(k, x)| (k.clone(), if k == name { v.to_owned() } else { x.clone() }))
            .collect()
    };
    for (what, headers) in [
        ("no anchor", without("X-AnchorMailbox")),
        ("anchor of another tenant", replaced("X-AnchorMailbox", "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@11111111-2222-3333-4444-555555555555")),
        ("anchor without APP:", replaced("X-AnchorMailbox", &sim.anchor_mailbox()[4..])),
        ("no content type", without("Content-Type")),
        ("text/plain", replaced("Content-Type", "text/plain")),
        ("xml response", replaced("X-ResponseFormat", "xml")),
        ("client-request-id not a GUID", replaced("client-request-id", "abc")),
        ("maxpagesize 0", replaced("Prefer", "odata.maxpagesize=0")),
    ] {
        let r = send(&headers, &b);
        assert_eq!(r.status, 400, "{what}");
        assert_eq!(r.exception().as_deref(), Some("InvalidRequestException"), "{what}");
        assert!(r.header("request-id").is_some());
    }
    // Optional headers may be left out; charset is fine.
    assert_eq!(send(&without("Prefer"), &b).status, 200);
    assert_eq!(send(&without("X-ResponseFormat"), &b).status, 200);
    assert_eq!(send(&without("client-request-id"), &b).status, 200);
    assert_eq!(
        send(
            &replaced("Content-Type", "application/json; charset=utf-8"),
            &b
        )
        .status,
        200
    );
    // Missing or foreign Authorization: 401 before anything else.
    assert_eq!(send(&without("Authorization"), &b).status, 401);
    assert_eq!(
        send(&replaced("Authorization", &format!("bearer {t}")), &b).status,
        401
    );
    // Body shape.
    for bad in [
        "not json",
        "{}",
        r#"{"CmdletInput":{"CmdletName":"Get-Mailbox"}}"#,
        r#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{}},"Extra":1}"#,
        r#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":[]}}"#,
        r#"{"cmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{}}}"#,
    ] {
        let r = send(&good, bad);
        assert_eq!(r.status, 400, "{bad}");
    }
    // Unknown query options, unknown $select members, wrong method, wrong tenant.
    let r = post(&format!("{}?$filter=x", sim.invoke_url()), &good, b.clone()).unwrap();
    assert_eq!(r.status, 400);
    let r = post(
        &format!("{}?$select=Nope", sim.invoke_url()),
        &good,
        b.clone(),
    )
    .unwrap();
    assert_eq!(r.status, 400);
    let r = post(
        &format!(
            "{}?$select=ExternalDirectoryObjectId,UserCertificate",
            sim.invoke_url()
        ),
        &good,
        b.clone(),
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let obj = r.values()[0].as_object().unwrap().clone();
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        [
            "ExternalDirectoryObjectId",
            "UserCertificate",
            "UserCertificate@odata.type"
        ]
    );
    let r = http()
        .get(sim.invoke_url())
        .header("Authorization", format!("Bearer {t}"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let other = sim
        .invoke_url()
        .replace(&sim.tenant_id(), "11111111-2222-3333-4444-555555555555");
    assert_eq!(post(&other, &good, b.clone()).unwrap().status, 401);
    // Every logged request has a status and a request id.
    assert!(sim
        .log()
        .iter()
        .all(|e| e.status.is_some() && exo_simulator::tenant::is_guid(&e.request_id)));
}

#[test]
fn read_only_app_reads_but_cannot_write() {
    let sim = start();
    let t = token_for(&sim, READ_ONLY_CLIENT_ID);
    assert_eq!(
        invoke(&sim, &t, "Get-Mailbox", json!({"ResultSize": "Unlimited"})).status,
        200
    );
    let r = invoke(
        &sim,
        &t,
        "Set-Mailbox",
        json!({"Identity": "bob@contoso.test", "UserCertificate": []}),
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.exception().unwrap(), "UnauthorizedAccessException");
    let r = invoke(
        &sim,
        &t,
        "New-MailContact",
        json!({"Name": "x", "ExternalEmailAddress": "SMTP:x@x.test"}),
    );
    assert_eq!(r.status, 403);
    assert_eq!(sim.write_counts().len(), 0);
}

#[test]
fn state_is_readable_over_http_with_base64_values() {
    let sim = start();
    let r = http()
        .get(format!("{}/_sim/state", sim.base_url()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    assert_eq!(v["tenant_id"], sim.tenant_id());
    let alice = v["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Identity"] == "alice")
        .unwrap();
    // The admin API's own form, whatever the dialect answers InvokeCommand with.
    assert_eq!(alice["UserCertificate"], values(&[&foreign_cert()]));
    assert!(alice.get("UserCertificate@odata.type").is_none());
    assert_eq!(v, sim.state_json());
    assert_eq!(v["recipients"].as_array().unwrap().len(), 18);
}
