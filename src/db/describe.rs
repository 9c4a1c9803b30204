//! An engine's errors as one line for the operator.

/// An engine's error in one line without the engine's internals: a
/// PostgreSQL error is its message, without the line of the server's own
/// source that sqlx appends (`at line 334`).
pub fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    }
}

/// A failed migration, described as [`describe`] does.
pub(super) fn describe_migration(err: &sqlx::migrate::MigrateError) -> String {
    use sqlx::migrate::MigrateError;
    match err {
        MigrateError::Execute(err) => describe(err),
        MigrateError::ExecuteMigration(err, version) => {
            format!("migration {version}: {}", describe(err))
        }
        other => other.to_string(),
    }
}
