use poem_openapi::types::ToJSON;

use super::{
    paging::{decode_cursor, encode_cursor},
    *,
};

/// `Reply` writes these with `Serialize`, the spec describes their
/// `ToJSON`: the two must give the same JSON, nulls and all.
#[test]
fn serialize_writes_what_to_json_writes() {
    fn same<T: ToJSON + Serialize>(value: &T) {
        assert_eq!(
            serde_json::to_value(value).unwrap(),
            value.to_json().unwrap()
        );
    }
    for secs in [
        0,
        951_782_400,
        1_764_633_599,
        253_402_300_799,
        -1,
        -62_135_596_800,
    ] {
        let at = OffsetDateTime::from_unix_timestamp(secs).unwrap();
        let item = Item {
            id: 1,
            name: "t".into(),
            description: Nullable(None),
            created_at: at,
            updated_at: at + time::Duration::nanoseconds(1_500),
        };
        same(&item);
    }
    let at = OffsetDateTime::from_unix_timestamp(1_764_633_600).unwrap();
    let later = OffsetDateTime::from_unix_timestamp(1_764_633_601).unwrap();
    let user = |email: Option<&str>, full_name: Option<&str>| User {
        id: 7,
        username: "ada \"quoted\" \u{e9}".into(),
        email: Nullable(email.map(Into::into)),
        full_name: Nullable(full_name.map(Into::into)),
        scopes: vec![Scope::ReadItems, Scope::WriteItems],
        disabled: true,
        created_at: at,
    };
    same(&user(Some("ada@example.test"), None));
    let written = serde_json::to_value(user(None, None)).unwrap();
    assert_eq!(written["created_at"], "2025-12-02T00:00:00Z");
    same(&user(None, Some("Ada")));
    let item = |description: Option<&str>| Item {
        id: 3,
        name: "line\nbreak".into(),
        description: Nullable(description.map(Into::into)),
        created_at: at,
        updated_at: later,
    };
    same(&item(None));
    same(&item(Some("d")));
    same(&ItemPage {
        data: vec![item(None), item(Some("x"))],
        next_cursor: Nullable(Some(encode_cursor(3))),
    });
    same(&ItemPage {
        data: vec![],
        next_cursor: Nullable(None),
    });
    same(&UserPage {
        data: vec![user(None, None)],
        next_cursor: Nullable(None),
    });
}

#[test]
fn cursors_round_trip_and_garbage_is_refused() {
    assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
    assert_eq!(decode_cursor("not-a-cursor"), None);
    assert!(PageRequest::parse(Some(0), None).is_err());
    assert!(PageRequest::parse(Some(201), None).is_err());
    assert!(PageRequest::parse(None, Some("!!")).is_err());
    let page = PageRequest::parse(Some(2), None).unwrap();
    assert_eq!(
        page.finish(vec![1, 2], |id| *id),
        (vec![1, 2], Nullable(None))
    );
    let (rows, next) = page.finish(vec![1, 2, 3], |id| *id);
    assert_eq!(
        (rows, next.0.as_deref().and_then(decode_cursor)),
        (vec![1, 2], Some(2))
    );
}
