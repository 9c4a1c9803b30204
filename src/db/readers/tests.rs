use super::*;
use crate::db::Store;

/// Both paths read the same row, and see a change committed elsewhere
/// at once.
#[tokio::test]
async fn inline_and_sqlx_paths_agree_and_see_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let store = Store::open(&url, 2, false).await.unwrap();
    let (user, fam) = crate::db::testing::user_with_session(&store, "r@example.test").await;
    let readers = Readers::open(&url, 1, true).await.unwrap();
    assert_eq!(lock(&readers.inline).len(), 1);
    {
        let inline = lock(&readers.inline);
        let statement = inline[0].prepare_cached(AUTH_ROW_SQL).unwrap();
        assert_eq!(
            statement.column_names(),
            [
                "id",
                "username",
                "email",
                "full_name",
                "scopes",
                "disabled",
                "token_version",
                "created_at",
                "family_revoked"
            ],
            "query_inline reads these columns by position"
        );
    }

    let inline = readers.auth_row_inline(user.id, fam).unwrap().unwrap();
    let taken = lock(&readers.inline).pop().unwrap();
    let via_sqlx = readers.auth_row(user.id, fam).await.unwrap().unwrap();
    lock(&readers.inline).push(taken);
    assert_eq!(format!("{inline:?}"), format!("{via_sqlx:?}"));
    assert_eq!(inline.user.email.as_deref(), Some("r@example.test"));
    assert!(!inline.family_revoked);

    for n in 0..3 {
        store
            .items()
            .create(user.id, &format!("item {n}"), (n == 1).then_some("d"))
            .await
            .unwrap();
    }
    let page = |rows: Vec<ItemRow>| format!("{rows:?}");
    let inline = readers.items_page(user.id, 0, 2).unwrap();
    let crate::db::Backend::Sqlite(pool) = store.backend() else {
        unreachable!("a SQLite URL")
    };
    let via_sqlx: Vec<ItemRow> = sqlx::query_as(LIST_SQL)
        .bind(user.id)
        .bind(0)
        .bind(2)
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(inline.len(), 2);
    assert_eq!(inline[1].description.as_deref(), Some("d"));
    assert_eq!(page(inline), page(via_sqlx));
    let rest = readers.items_page(user.id, 2, 10).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].name, "item 2");

    // Cached until the next commit, by any connection of any process.
    readers.auth_row(user.id, fam).await.unwrap().unwrap();
    let hits = readers.cache_hits();
    readers.auth_row(user.id, fam).await.unwrap().unwrap();
    readers.auth_row(user.id, fam).await.unwrap().unwrap();
    assert_eq!(readers.cache_hits(), hits + 2, "no commit in between");
    let path = dir.path().join("r.db");
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute("UPDATE users SET email = 'new@example.test'", ())
        .unwrap();
    let row = readers.auth_row(user.id, fam).await.unwrap().unwrap();
    assert_eq!(row.user.email.as_deref(), Some("new@example.test"));
    assert_eq!(readers.cache_hits(), hits + 2, "a commit empties the cache");
    readers.auth_row(user.id, fam).await.unwrap().unwrap();
    assert_eq!(readers.cache_hits(), hits + 3);
    store
        .items()
        .create(user.id, "unrelated", None)
        .await
        .unwrap();
    readers.auth_row(user.id, fam).await.unwrap().unwrap();
    assert_eq!(readers.cache_hits(), hits + 3, "any commit at all");

    // Pages too: kept until the next commit of anyone.
    let kept = readers.items_page(user.id, 0, 10).unwrap();
    let hits = readers.page_cache_hits();
    assert_eq!(
        readers.items_page(user.id, 0, 10).unwrap().len(),
        kept.len()
    );
    assert_eq!(readers.page_cache_hits(), hits + 1, "no commit in between");
    other
        .execute(
            "INSERT INTO items (owner_id, name, created_at, updated_at) VALUES (?1, 'elsewhere', 0, 0)",
            [user.id],
        )
        .unwrap();
    let fresh = readers.items_page(user.id, 0, 10).unwrap();
    assert_eq!(fresh.len(), kept.len() + 1);
    assert_eq!(fresh.last().unwrap().name, "elsewhere");
    assert_eq!(readers.page_cache_hits(), hits + 1, "a commit empties it");

    // Each table the cache reads, written outside tollgate's write
    // paths: no writer has to remember anything.
    readers.auth_row(user.id, fam).await.unwrap().unwrap();
    let hits = readers.cache_hits();
    assert!(
        !readers
            .auth_row(user.id, fam)
            .await
            .unwrap()
            .unwrap()
            .family_revoked
    );
    assert_eq!(readers.cache_hits(), hits + 1, "kept");
    other
        .execute(
            "UPDATE token_families SET revoked_at = 1 WHERE id = ?1",
            [fam],
        )
        .unwrap();
    let row = readers.auth_row(user.id, fam).await.unwrap().unwrap();
    assert!(row.family_revoked, "a revocation empties the cache");
    other
        .execute("UPDATE users SET disabled = 1 WHERE id = ?1", [user.id])
        .unwrap();
    assert!(
        readers
            .auth_row(user.id, fam)
            .await
            .unwrap()
            .unwrap()
            .user
            .disabled
    );
    assert!(readers.auth_row(user.id + 1, fam).await.unwrap().is_none());
}
