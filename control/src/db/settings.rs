//! The `settings` table: site-wide snapshot parts (layers, holdout, personas, origins), the
//! monitor's decision defaults and the default exposure dimensions, one JSON value per key.

use sqlx::AnyConnection;

use crate::error::AppResult;
use crate::model::Settings;

pub async fn load(conn: &mut AnyConnection) -> AppResult<Settings> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM settings")
        .fetch_all(conn)
        .await?;
    let mut s = Settings::default();
    for (key, value) in rows {
        match key.as_str() {
            "layers" => s.layers = serde_json::from_str(&value)?,
            "holdout" => s.holdout = serde_json::from_str(&value)?,
            "personas" => s.personas = serde_json::from_str(&value)?,
            "allowed_origins" => s.allowed_origins = serde_json::from_str(&value)?,
            "decision" => s.decision = serde_json::from_str(&value)?,
            "dimensions" => s.dimensions = serde_json::from_str(&value)?,
            "approval_thresholds" => s.approval_thresholds = serde_json::from_str(&value)?,
            _ => {}
        }
    }
    Ok(s)
}

pub async fn put(conn: &mut AnyConnection, key: &str, value: &serde_json::Value) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value.to_string())
    .execute(conn)
    .await?;
    Ok(())
}
