//! `edgewise serve` and the admin subcommands that work on the database directly:
//! `token create|revoke`, `ingest-key create|revoke`, `audit verify`.

use std::process::ExitCode;

use clap::Subcommand;
use edgewise_control::app::{shutdown_signal, App};
use edgewise_control::config::{DbArgs, ServeArgs};
use edgewise_control::db::tokens::{create_ingest_key, create_token, revoke, Credential, Role};
use edgewise_control::db::{audit, now_ms, Actor, Db, Mutation};

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let traces = edgewise_control::traces::init(args.log_json, &args.otlp_endpoint)?;
    runtime()?.block_on(async {
        let app = App::build(&args).await?;
        // Scripts and tests read this line to learn the port when listening on port 0.
        println!("listening on {}", app.addr);
        tracing::info!(addr = %app.addr, edges = args.edge_urls.len(), "edgewise control plane up");
        app.run(shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    traces.shutdown();
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; prints it once (only its hash is stored).
    Create {
        #[arg(long, value_parser = ["viewer", "editor", "approver", "admin"])]
        role: String,
        /// A label for the audit log.
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke an API token by id (`tok_…`, as listed by `GET /api/v1/tokens`).
    Revoke {
        id: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum IngestKeyCommand {
    /// Create an ingestion key for a site; prints it once.
    Create {
        #[arg(long)]
        site: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke an ingestion key by id (`key_…`, as listed by `GET /api/v1/ingest-keys`).
    Revoke {
        id: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit hash chain; exits 1 if it was tampered with.
    Verify {
        #[command(flatten)]
        db: DbArgs,
    },
}

pub fn token(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let (role, name, db) = match cmd {
        TokenCommand::Create { role, name, db } => (role, name, db),
        TokenCommand::Revoke { id, db } => return revoke_cli(Credential::Token, &id, &db),
    };
    runtime()?.block_on(async {
        let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("unknown role"))?;
        let db = Db::connect(&db, "FULL").await?;
        let mut m = Mutation::begin(&db).await?;
        let created = create_token(&mut m.tx, role, &name, now_ms()).await?;
        let after = serde_json::json!({ "id": created.id, "role": role, "name": name });
        m.finish(
            &Actor("cli".into()),
            "token.create",
            &created.id,
            None,
            Some(&after),
        )
        .await?;
        db.close().await;
        eprintln!(
            "created {} token {} (shown once)",
            role.as_str(),
            created.id
        );
        println!("{}", created.secret);
        Ok(ExitCode::SUCCESS)
    })
}

pub fn ingest_key(cmd: IngestKeyCommand) -> anyhow::Result<ExitCode> {
    let (site, db) = match cmd {
        IngestKeyCommand::Create { site, db } => (site, db),
        IngestKeyCommand::Revoke { id, db } => return revoke_cli(Credential::IngestKey, &id, &db),
    };
    runtime()?.block_on(async {
        let db = Db::connect(&db, "FULL").await?;
        let mut m = Mutation::begin(&db).await?;
        let created = create_ingest_key(&mut m.tx, &site, now_ms()).await?;
        let after = serde_json::json!({ "id": created.id, "site": site });
        m.finish(
            &Actor("cli".into()),
            "ingest_key.create",
            &created.id,
            None,
            Some(&after),
        )
        .await?;
        db.close().await;
        eprintln!(
            "created ingestion key {} for site {site} (shown once)",
            created.id
        );
        println!("{}", created.secret);
        Ok(ExitCode::SUCCESS)
    })
}

/// Revokes on the database directly; running servers see it on their next request.
fn revoke_cli(kind: Credential, id: &str, db: &DbArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let db = Db::connect(db, "FULL").await?;
        let revoked = revoke(&db, &Actor("cli".into()), kind, id).await;
        db.close().await;
        match revoked {
            Ok(what) => {
                eprintln!("revoked {id}");
                println!("{what}");
                Ok(ExitCode::SUCCESS)
            }
            Err(edgewise_control::error::AppError::NotFound(_)) => {
                eprintln!("no such id: {id}");
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        }
    })
}

pub fn audit(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify { db } = cmd;
    runtime()?.block_on(async {
        let db = Db::connect(&db, "FULL").await?;
        let mut conn = db.reader.acquire().await?;
        let verdict = audit::verify(&mut conn).await?;
        drop(conn);
        db.close().await;
        println!("{}", serde_json::to_string_pretty(&verdict)?);
        Ok(if verdict.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}
