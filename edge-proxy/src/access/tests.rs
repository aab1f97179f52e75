use super::*;

const NOW: i64 = 1_767_225_600;
const FILE: &str = "/group1/M00/00/00/wKgAAWb.jpg";

fn keys() -> KeySet {
    KeySet::new(vec![
        ("new".into(), b"0123456789abcdef-new-secret".to_vec()),
        ("old".into(), b"0123456789abcdef-old-secret".to_vec()),
    ])
}

fn access() -> Access {
    let rules = vec![
        Rule {
            prefix: "/group1/".into(),
            policy: Policy::Signed,
        },
        Rule {
            prefix: "/group1/M00/public/".into(),
            policy: Policy::Public,
        },
        Rule {
            prefix: "/group2/".into(),
            policy: Policy::Token,
        },
    ];
    let mut a = Access::new(Policy::Public, rules, keys(), 30);
    a.token = Some(TokenCheck {
        secret: "FastDFS1234567890".into(),
        ttl: 600,
    });
    a
}

fn sign(path: &str, exp: i64, scope: Option<&str>, ip: Option<&str>, kid: Option<&str>) -> String {
    keys()
        .sign(&SignRequest {
            method: "GET",
            path,
            scope,
            exp,
            ip,
            kid,
            variant: None,
        })
        .expect("signs")
}

fn check(method: &str, path: &str, query: &str, client: &str) -> Result<Allowed, Denied> {
    access().check(
        &Request {
            method,
            path,
            query: Some(query),
            client: client.parse().ok(),
        },
        NOW,
    )
}

fn get(path: &str, query: &str) -> Result<Allowed, Denied> {
    check("GET", path, query, "192.0.2.1")
}

#[test]
fn the_longest_rule_wins() {
    let a = access();
    assert_eq!(a.policy_of(FILE), Policy::Signed);
    assert_eq!(a.policy_of("/group1/M00/public/x"), Policy::Public);
    assert_eq!(a.policy_of("/group2/M00/x"), Policy::Token);
    assert_eq!(a.policy_of("/group3/M00/x"), Policy::Public);
    assert!(a.enabled());
    assert!(!Access::default().enabled());
}

#[test]
fn public_paths_keep_their_query() {
    let ok = get("/group3/M00/x", "token=a&w=1").expect("public");
    assert_eq!(ok.query.as_deref(), Some("token=a&w=1"));
    assert_eq!(ok.policy, Policy::Public);
}

#[test]
fn a_signed_url_is_let_through_and_its_parameters_leave_the_key() {
    let q = sign(FILE, NOW + 60, None, None, None);
    let ok = get(FILE, &q).expect("signed");
    assert_eq!(ok.query, None);
    let ok = get(FILE, &format!("filename=a.jpg&{q}")).expect("signed");
    assert_eq!(ok.query.as_deref(), Some("filename=a.jpg"));
    // a GET signature covers HEAD, not DELETE
    assert!(check("HEAD", FILE, &q, "192.0.2.1").is_ok());
    assert_eq!(
        check("DELETE", FILE, &q, "192.0.2.1"),
        Err(Denied::BadSignature)
    );
}

#[test]
fn expiry_allows_the_skew_and_no_more() {
    let q = sign(FILE, NOW - 30, None, None, None);
    assert!(get(FILE, &q).is_ok());
    let q = sign(FILE, NOW - 31, None, None, None);
    assert_eq!(
        get(FILE, &q),
        Err(Denied::Expired {
            exp: NOW - 31,
            now: NOW
        })
    );
}

#[test]
fn a_signature_is_for_its_path_only() {
    let q = sign(FILE, NOW + 60, None, None, None);
    let other = "/group1/M00/00/00/other.jpg";
    assert_eq!(get(other, &q), Err(Denied::BadSignature));
    // nor can it be turned into a prefix of longer paths
    let longer = format!("{FILE}_150x150.jpg");
    let as_scope = format!("{q}&scope={FILE}");
    assert_eq!(get(&longer, &as_scope), Err(Denied::BadSignature));
    // a changed expiry breaks it
    let later = q.replace(&format!("exp={}", NOW + 60), &format!("exp={}", NOW + 9999));
    assert_eq!(get(FILE, &later), Err(Denied::BadSignature));
}

#[test]
fn a_scope_covers_a_prefix() {
    let q = sign(FILE, NOW + 60, Some("/group1/M00/00/00/"), None, None);
    assert!(get(FILE, &q).is_ok());
    assert!(get("/group1/M00/00/00/b.png", &q).is_ok());
    assert_eq!(
        get("/group1/M00/00/01/b.png", &q),
        Err(Denied::OutOfScope("/group1/M00/00/00/".into()))
    );
}

#[test]
fn keys_rotate_by_id() {
    let old = sign(FILE, NOW + 60, None, None, Some("old"));
    assert!(get(FILE, &old).is_ok());
    // the old key's signature under the default key's name does not match
    let relabelled = old.replace("kid=old", "kid=new");
    assert_eq!(get(FILE, &relabelled), Err(Denied::BadSignature));
    let unknown = old.replace("kid=old", "kid=gone");
    assert_eq!(get(FILE, &unknown), Err(Denied::UnknownKey("gone".into())));
    // without kid: the first key
    let default = sign(FILE, NOW + 60, None, None, None).replace("&kid=new", "");
    assert!(get(FILE, &default).is_ok());
}

#[test]
fn missing_empty_bad_and_repeated_parameters() {
    let q = sign(FILE, NOW + 60, None, None, None);
    let sig = q.split('&').find(|p| p.starts_with("sig=")).unwrap_or("");
    assert_eq!(get(FILE, ""), Err(Denied::Missing("exp")));
    assert_eq!(
        get(FILE, &q.replace(sig, "sig=")),
        Err(Denied::Missing("sig"))
    );
    assert_eq!(
        get(FILE, &q.replace(sig, "sig=%%%")),
        Err(Denied::Malformed("sig"))
    );
    assert_eq!(
        get(FILE, &q.replace(&format!("exp={}", NOW + 60), "exp=-5")),
        Err(Denied::Malformed("exp"))
    );
    assert_eq!(
        get(FILE, &format!("{q}&exp=1")),
        Err(Denied::Repeated("exp"))
    );
    // a signature with padding is the same signature
    assert!(get(FILE, &q.replace(sig, &format!("{sig}="))).is_ok());
}

#[test]
fn an_ip_rule_binds_the_client() {
    let q = sign(FILE, NOW + 60, None, Some("192.0.2.0/24"), None);
    assert!(check("GET", FILE, &q, "192.0.2.200").is_ok());
    assert!(check("GET", FILE, &q, "::ffff:192.0.2.7").is_ok());
    assert_eq!(
        check("GET", FILE, &q, "198.51.100.1"),
        Err(Denied::WrongAddress("198.51.100.1".into()))
    );
    // widening the rule breaks the signature
    let wider = q.replace("ip=192.0.2.0/24", "ip=0.0.0.0/0");
    assert_eq!(
        check("GET", FILE, &wider, "198.51.100.1"),
        Err(Denied::BadSignature)
    );
    let single = sign(FILE, NOW + 60, None, Some("192.0.2.9"), None);
    assert!(check("GET", FILE, &single, "192.0.2.9").is_ok());
    assert!(check("GET", FILE, &single, "192.0.2.8").is_err());
}

const TOKEN_FILE: &str = "/group2/M00/00/00/wKgAAWb.jpg";

fn token_of(ts: i64) -> String {
    access()
        .token
        .as_ref()
        .map(|t| t.generate(TOKEN_FILE, ts))
        .unwrap_or_default()
}

#[test]
fn fastdfs_tokens_are_checked_at_the_edge() {
    let tok = token_of(NOW - 10);
    let ok = get(TOKEN_FILE, &format!("token={tok}&ts={}&w=1", NOW - 10)).expect("token");
    assert_eq!(ok.query.as_deref(), Some("w=1"));
    assert_eq!(ok.policy, Policy::Token);
    // the token is the module's: md5 of the id without the group, the secret and ts
    assert_eq!(
        tok,
        fdfs_client::token::generate("M00/00/00/wKgAAWb.jpg", "FastDFS1234567890", NOW - 10)
    );
    let other = "/group2/M00/00/00/other.jpg";
    assert!(matches!(
        get(other, &format!("token={tok}&ts={}", NOW - 10)),
        Err(Denied::Token(_))
    ));
}

#[test]
fn empty_token_or_ts_is_refused() {
    // fastdfs issue 405: the C check passed empty values (atoi("") = 0, and ts 0 never expires)
    let zero = token_of(0);
    for q in [
        format!("token={zero}&ts="),
        format!("token={zero}"),
        "token=&ts=0".to_string(),
        format!("token=&ts={NOW}"),
    ] {
        assert!(
            matches!(
                get(TOKEN_FILE, &q),
                Err(Denied::Missing(_) | Denied::Malformed(_))
            ),
            "{q}"
        );
    }
    assert_eq!(
        get(TOKEN_FILE, &format!("token={zero}&ts=0")),
        Err(Denied::TokenExpired { ts: 0, now: NOW })
    );
    assert_eq!(
        get(TOKEN_FILE, &format!("token={zero}&ts= 0")),
        Err(Denied::Malformed("ts"))
    );
}

#[test]
fn token_expiry_and_future_timestamps() {
    let old = NOW - 601;
    assert_eq!(
        get(TOKEN_FILE, &format!("token={}&ts={old}", token_of(old))),
        Err(Denied::TokenExpired { ts: old, now: NOW })
    );
    let edge = NOW - 600;
    assert!(get(TOKEN_FILE, &format!("token={}&ts={edge}", token_of(edge))).is_ok());
    let future = NOW + 31;
    assert_eq!(
        get(
            TOKEN_FILE,
            &format!("token={}&ts={future}", token_of(future))
        ),
        Err(Denied::TokenInFuture {
            ts: future,
            now: NOW
        })
    );
}

#[test]
fn every_reason_is_listed_for_the_metrics() {
    let samples = [
        Denied::Missing("x"),
        Denied::Malformed("x"),
        Denied::Repeated("x"),
        Denied::Expired { exp: 0, now: 0 },
        Denied::UnknownKey(String::new()),
        Denied::BadSignature,
        Denied::OutOfScope(String::new()),
        Denied::WrongAddress(String::new()),
        Denied::Token(String::new()),
        Denied::TokenInFuture { ts: 0, now: 0 },
        Denied::TokenExpired { ts: 0, now: 0 },
    ];
    for d in samples {
        assert!(Denied::REASONS.contains(&d.reason()), "{d:?}");
    }
}

#[test]
fn a_remembered_signature_still_expires_and_keeps_its_address_rule() {
    let a = access();
    let q = sign(FILE, NOW + 60, None, Some("192.0.2.0/24"), None);
    let req = |client: &'static str| Request {
        method: "GET",
        path: FILE,
        query: Some(q.as_str()),
        client: client.parse().ok(),
    };
    assert!(a.check(&req("192.0.2.1"), NOW).is_ok());
    // now from the table of verified signatures
    assert_eq!(a.check(&req("192.0.2.1"), NOW).map(|ok| ok.query), Ok(None));
    assert_eq!(
        a.check(&req("198.51.100.1"), NOW),
        Err(Denied::WrongAddress("198.51.100.1".into()))
    );
    assert_eq!(
        a.check(&req("192.0.2.1"), NOW + 91),
        Err(Denied::Expired {
            exp: NOW + 60,
            now: NOW + 91
        })
    );
    // a HEAD shares the GET's entry; another path does not
    let head = Request {
        method: "HEAD",
        ..req("192.0.2.1")
    };
    assert!(a.check(&head, NOW).is_ok());
    let other = Request {
        path: "/group1/M00/00/00/other.jpg",
        ..req("192.0.2.1")
    };
    assert_eq!(a.check(&other, NOW), Err(Denied::BadSignature));
}
