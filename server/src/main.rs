//! The `jmet` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use jmet::ids::{MemberId, TeamId};
use jmet::{Location, Settings, Storage};
use sync_protocol::{DeviceId, Scope};

/// Who the audit log names for what an operator does with this command line.
const CLI: &str = "cli";

#[derive(Parser)]
#[command(
    name = "jmet",
    version,
    about = "Backend and sync service for municipal monitoring teams"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Manage devices and their tokens.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Apply pending database migrations and exit.
    Migrate(StorageArgs),
    /// Give the database a new identity after restoring a backup (with the server stopped):
    /// every phone then pulls afresh and re-sends what it wrote.
    RotateEpoch(StorageArgs),
    /// The audit chain.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Territories: oblasts, rayons, municipalities, villages.
    #[command(subcommand)]
    Territory(TerritoryCommand),
    /// Facilities and services that JMETs monitor.
    #[command(subcommand)]
    Facility(FacilityCommand),
    /// JMET teams.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Members of JMET teams.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Enrolling phones by QR code.
    #[command(subcommand)]
    Enroll(EnrollCommand),
    /// SEDP indicators.
    #[command(subcommand)]
    Indicator(IndicatorCommand),
    /// The JMET's M&E plan of a municipality.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Web and script users with roles.
    #[command(subcommand)]
    User(UserCommand),
    /// Form definitions (visits and the resident survey).
    #[command(subcommand)]
    Form(FormCommand),
    /// A municipality's SEDP: period, goals and JAP actions.
    #[command(subcommand)]
    Sedp(SedpCommand),
    /// Flags the GPS and time checks raise on visits.
    #[command(subcommand)]
    Flags(FlagsCommand),
    /// GPS thresholds per facility kind.
    #[command(subcommand)]
    GpsThresholds(ThresholdsCommand),
    /// Recompute everything derived from the merged records: submission statuses, indicator
    /// values, flags.
    Rebuild(StorageArgs),
    /// Photo uploads in progress.
    #[command(subcommand)]
    Uploads(UploadsCommand),
}

#[derive(Subcommand)]
enum UploadsCommand {
    /// Delete the pieces of uploads no phone continued for some days (run it from cron).
    Prune {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long, default_value_t = 14)]
        older_than_days: i64,
    },
}

#[derive(Subcommand)]
enum FlagsCommand {
    /// Recompute every visit's flags from the merged records.
    Rebuild(StorageArgs),
}

#[derive(Subcommand)]
enum ThresholdsCommand {
    /// Print the thresholds by facility kind (`*` is the default).
    Show(StorageArgs),
    /// Set a facility kind's thresholds (`*` for the default), then recompute every visit's flags.
    Set {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        kind: String,
        /// Farthest the reported position may be from the facility, in metres.
        #[arg(long)]
        max_distance_m: f64,
        /// Worst accuracy the phone may report, in metres.
        #[arg(long)]
        max_accuracy_m: f64,
        /// Farthest a photo's EXIF position may be from the reported one, in metres.
        #[arg(long)]
        max_photo_distance_m: f64,
        /// Largest gap between a photo's EXIF time and the capture time, in seconds.
        #[arg(long)]
        max_photo_age_s: f64,
    },
}

#[derive(Subcommand)]
enum SedpCommand {
    /// Replace a municipality's SEDP with a JSON document (format: see fixtures/demo/sedp.json,
    /// one element of it). Its indicators must be imported first.
    Import {
        #[command(flatten)]
        storage: StorageArgs,
        file: PathBuf,
    },
    /// Print a municipality's SEDP as JSON.
    Show {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        municipality: String,
    },
}

#[derive(Subcommand)]
enum FormCommand {
    /// Store a form version from a JSON definition (see fixtures/demo/forms/) or an XLSForm
    /// workbook (`.xlsx`: survey, choices and settings sheets; see fixtures/xlsform/) and publish
    /// it to every phone. A stored version never changes: publish a new version instead.
    Import {
        #[command(flatten)]
        storage: StorageArgs,
        file: PathBuf,
    },
    /// Print every form version as JSON.
    List(StorageArgs),
    /// Close a form version to new submissions, from the app and from ODK Collect alike.
    Close {
        #[command(flatten)]
        storage: StorageArgs,
        form: String,
        version: u32,
    },
    /// Print the ODK XForm of a stored form version.
    Xform {
        #[command(flatten)]
        storage: StorageArgs,
        form: String,
        version: u32,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from the first line of standard input, so it stays out
    /// of the shell history: `echo "$PASSWORD" | jmet user create ...`.
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        login: String,
        #[arg(long)]
        name: String,
        /// member, supervisor, ao_staff, ao_head, deputy, state_body or admin.
        #[arg(long)]
        role: String,
        /// A territory code (oblast, rayon or municipality) the user works in, or `*` for the
        /// whole country; repeat for several. Admins need none.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// Print every user as JSON.
    List(StorageArgs),
}

#[derive(Subcommand)]
enum IndicatorCommand {
    /// Import (insert or update) the indicators of a CSV file: all of them, or none with an error
    /// naming the line.
    Import {
        #[command(flatten)]
        storage: StorageArgs,
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum PlanCommand {
    /// Choose the indicators of a municipality's M&E plan (a draft until approved).
    Set {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        municipality: String,
        /// An indicator code; repeat for several.
        #[arg(long = "indicator", required = true)]
        indicators: Vec<String>,
    },
    /// Record the council's approval: session date and decision number.
    Approve {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        municipality: String,
        /// The session's date, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        #[arg(long)]
        decision: String,
    },
    /// Print a municipality's plan as JSON.
    Show {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        municipality: String,
    },
}

#[derive(Subcommand)]
enum EnrollCommand {
    /// A one-time enrollment code for a member's phone, as JSON and optionally as a QR code (SVG)
    /// holding {"server": URL, "code": CODE}; the phone posts the code to /api/v1/enroll.
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        member: MemberId,
        /// The address phones reach this server at, e.g. https://jmet.example.kg
        #[arg(long)]
        server_url: String,
        /// Write the QR code to this SVG file.
        #[arg(long)]
        qr_svg: Option<PathBuf>,
        /// Hours the code stays valid.
        #[arg(long, default_value_t = 72)]
        valid_hours: i64,
    },
}

#[derive(Subcommand)]
enum TeamCommand {
    /// Create the JMET team of a municipality; prints {"team_id": …}.
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        municipality: String,
        #[arg(long)]
        name: String,
    },
    /// Print everyone who was ever on the team, with the days they joined and left.
    Members {
        #[command(flatten)]
        storage: StorageArgs,
        team_id: TeamId,
    },
}

#[derive(Subcommand)]
enum MemberCommand {
    /// Add a member to a team; prints {"member_id": …}.
    Add {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        team: TeamId,
        #[arg(long)]
        name: String,
        /// The day they joined, YYYY-MM-DD.
        #[arg(long)]
        joined: String,
    },
    /// The member leaves the team: every device token of theirs is revoked at once, their
    /// records stay.
    Leave {
        #[command(flatten)]
        storage: StorageArgs,
        member_id: MemberId,
        /// The day they left, YYYY-MM-DD.
        #[arg(long)]
        on: String,
    },
}

#[derive(Subcommand)]
enum FacilityCommand {
    /// Import (insert or update) the facilities of a CSV file: all of them, or none with an error
    /// naming the line.
    Import {
        #[command(flatten)]
        storage: StorageArgs,
        file: PathBuf,
    },
    /// Print every stored facility as JSON.
    List(StorageArgs),
}

#[derive(Subcommand)]
enum TerritoryCommand {
    /// Import (insert or update) the territories of a GeoJSON FeatureCollection: all of them, or
    /// none with an error naming the line or the feature.
    Import {
        #[command(flatten)]
        storage: StorageArgs,
        file: PathBuf,
    },
    /// Print every stored territory as JSON.
    List(StorageArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the whole chain, the ops it commits to and the stored records; names the first
    /// broken entry and exits with status 1 if anything was altered or deleted.
    Verify(StorageArgs),
}

#[derive(Args)]
struct StorageArgs {
    /// Directory of the embedded SQLite database (used unless --database-url is given).
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// postgres://… selects PostgreSQL; sqlite:… a specific SQLite file.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
}

impl StorageArgs {
    async fn open(&self) -> Result<Storage, String> {
        let location = Location::from_args(&self.data_dir, self.database_url.as_deref())
            .map_err(|e| e.to_string())?;
        Storage::open(&location).await.map_err(|e| e.to_string())
    }
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Largest request body in bytes, after decompression.
    #[arg(long, default_value_t = Settings::default().body_limit)]
    body_limit: usize,
    /// How many seconds ahead of the server's clock an op's HLC may be.
    #[arg(long, default_value_t = Settings::default().max_clock_skew_ms / 1000)]
    max_clock_skew_secs: u64,
    /// Load the demo data set (15 pilot municipalities, about three years of synthetic visits and
    /// survey responses) into a database that has no territories yet.
    #[arg(long)]
    demo: bool,
    /// Pushes processed at once; more wait their turn (bounds memory).
    #[arg(long, default_value_t = Settings::default().push_concurrency)]
    push_concurrency: usize,
    /// Send the session cookie over plain HTTP too. Only for a closed network without TLS.
    #[arg(long)]
    insecure_cookies: bool,
    /// The address phones reach this server at (written into enrollment QR codes), e.g.
    /// https://jmet.example.kg; the request's Host header when absent.
    #[arg(long)]
    public_url: Option<String>,
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Create a device; prints {"device_id": …, "token": …}.
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        /// A scope the device may read and write; repeat for several.
        #[arg(
            long = "scope",
            required_unless_present = "member",
            conflicts_with = "member"
        )]
        scopes: Vec<String>,
        /// The team member whose phone this is: the device syncs the team's municipality and is
        /// revoked when the member leaves.
        #[arg(long)]
        member: Option<MemberId>,
        /// A note for people, such as the member's name or the phone's model.
        #[arg(long)]
        label: Option<String>,
    },
    /// Revoke a device's token at once; its records stay.
    Revoke {
        #[command(flatten)]
        storage: StorageArgs,
        device_id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(storage) => {
            storage
                .open()
                .await?
                .close()
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::RotateEpoch(storage) => {
            let storage = storage.open().await?;
            let epoch = storage
                .rotate_epoch(CLI, jmet::sync::now_ms() as i64)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", serde_json::json!({ "epoch": epoch }));
            Ok(())
        }
        Command::Territory(TerritoryCommand::Import { storage, file }) => {
            let (text, territories) = read_for_import(&file, jmet::territory::parse_geojson)?;
            let storage = storage.open().await?;
            let imported = storage
                .import_territories(&territories, &text, CLI, jmet::sync::now_ms() as i64)
                .await
                .map_err(|e| format!("{}: {e}; nothing was imported", file.display()))?;
            println!("{}", serde_json::json!({ "imported": imported }));
            Ok(())
        }
        Command::Facility(FacilityCommand::Import { storage, file }) => {
            let (text, facilities) = read_for_import(&file, jmet::facility::parse_csv)?;
            let storage = storage.open().await?;
            let imported = storage
                .import_facilities(&facilities, &text, CLI, jmet::sync::now_ms() as i64)
                .await
                .map_err(|e| format!("{}: {e}; nothing was imported", file.display()))?;
            println!("{}", serde_json::json!({ "imported": imported }));
            Ok(())
        }
        Command::Team(TeamCommand::Create {
            storage,
            municipality,
            name,
        }) => {
            let municipality = Scope::parse(municipality).map_err(|e| e.to_string())?;
            let storage = storage.open().await?;
            let team_id = storage
                .create_team(&municipality, &name, CLI, jmet::sync::now_ms() as i64)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", serde_json::json!({ "team_id": team_id }));
            Ok(())
        }
        Command::Team(TeamCommand::Members { storage, team_id }) => {
            let storage = storage.open().await?;
            let members = storage
                .team_members(team_id)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string(&members).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::Member(MemberCommand::Add {
            storage,
            team,
            name,
            joined,
        }) => {
            let storage = storage.open().await?;
            let member_id = storage
                .add_member(team, &name, &joined, CLI, jmet::sync::now_ms() as i64)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", serde_json::json!({ "member_id": member_id }));
            Ok(())
        }
        Command::Member(MemberCommand::Leave {
            storage,
            member_id,
            on,
        }) => {
            let storage = storage.open().await?;
            let revoked = storage
                .member_leaves(member_id, &on, CLI, jmet::sync::now_ms() as i64)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", serde_json::json!({ "revoked_devices": revoked }));
            Ok(())
        }
        Command::Enroll(EnrollCommand::Create {
            storage,
            member,
            server_url,
            qr_svg,
            valid_hours,
        }) => {
            let storage = storage.open().await?;
            let code = storage
                .create_enrollment_code(
                    member,
                    valid_hours.max(1) * 3_600_000,
                    CLI,
                    jmet::sync::now_ms() as i64,
                )
                .await
                .map_err(|e| e.to_string())?;
            let payload = jmet::enrollment::qr_payload(&server_url, &code.code);
            if let Some(path) = &qr_svg {
                let svg = jmet::enrollment::qr_svg(&payload)?;
                std::fs::write(path, svg)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            let report = serde_json::json!({
                "code": code.code, "expires_at_ms": code.expires_at_ms, "qr_payload": payload,
            });
            println!("{report}");
            Ok(())
        }
        Command::Indicator(IndicatorCommand::Import { storage, file }) => {
            let (text, indicators) = read_for_import(&file, jmet::indicator::parse_csv)?;
            let storage = storage.open().await?;
            let imported = storage
                .import_indicators(&indicators, &text, CLI, jmet::sync::now_ms() as i64)
                .await
                .map_err(|e| format!("{}: {e}; nothing was imported", file.display()))?;
            println!("{}", serde_json::json!({ "imported": imported }));
            Ok(())
        }
        Command::Plan(PlanCommand::Set {
            storage,
            municipality,
            indicators,
        }) => {
            let municipality = Scope::parse(municipality).map_err(|e| e.to_string())?;
            let storage = storage.open().await?;
            storage
                .set_plan(&municipality, &indicators, CLI, jmet::sync::now_ms() as i64)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::json!({ "status": "draft", "indicators": indicators })
            );
            Ok(())
        }
        Command::Plan(PlanCommand::Approve {
            storage,
            municipality,
            date,
            decision,
        }) => {
            let municipality = Scope::parse(municipality).map_err(|e| e.to_string())?;
            let storage = storage.open().await?;
            storage
                .approve_plan(
                    &municipality,
                    &date,
                    &decision,
                    CLI,
                    jmet::sync::now_ms() as i64,
                )
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", serde_json::json!({ "status": "approved" }));
            Ok(())
        }
        Command::User(UserCommand::Create {
            storage,
            login,
            name,
            role,
            scopes,
        }) => {
            let role: jmet::access::Role = role.parse()?;
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            let storage = storage.open().await?;
            let user = jmet::accounts::CreateUser {
                login,
                name,
                role,
                scopes,
                password,
            };
            let user_id =
                jmet::accounts::create_user(&storage, user, CLI, jmet::sync::now_ms() as i64)
                    .await
                    .map_err(|e| e.to_string())?;
            println!("{}", serde_json::json!({ "user_id": user_id }));
            Ok(())
        }
        Command::Form(FormCommand::Import { storage, file }) => {
            let is_xlsx = file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
            let form = if is_xlsx {
                let bytes = std::fs::read(&file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                let imported = jmet::xlsform::read(&bytes)
                    .map_err(|e| format!("{}: {e}; nothing was imported", file.display()))?;
                for warning in &imported.warnings {
                    eprintln!("{}: warning: {warning}", file.display());
                }
                imported.form
            } else {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                sync_protocol::FormDef::from_json(&text)
                    .map_err(|e| format!("{}: {e}; nothing was imported", file.display()))?
            };
            let storage = storage.open().await?;
            let created = storage
                .import_form(&form, CLI, jmet::sync::now_ms() as i64)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::json!({"form": form.id, "version": form.version, "created": created})
            );
            Ok(())
        }
        Command::Sedp(SedpCommand::Import { storage, file }) => {
            let (_, sedp) = read_for_import(&file, jmet::sedp::parse)?;
            let storage = storage.open().await?;
            storage
                .import_sedp(&sedp, CLI, jmet::sync::now_ms() as i64)
                .await
                .map_err(|e| format!("{}: {e}", file.display()))?;
            println!(
                "{}",
                serde_json::json!({"municipality": sedp.municipality, "goals": sedp.goals.len()})
            );
            Ok(())
        }
        Command::Sedp(SedpCommand::Show {
            storage,
            municipality,
        }) => {
            let municipality = Scope::parse(&municipality).map_err(|e| e.to_string())?;
            let storage = storage.open().await?;
            let sedp = storage
                .sedp(&municipality)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{municipality} has no SEDP"))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&sedp).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::Uploads(UploadsCommand::Prune {
            storage: args,
            older_than_days,
        }) => {
            let blob_config = jmet::blobs::BlobConfig::from_env_or_local(&args.data_dir)?;
            let blobs = jmet::blobs::BlobStore::open(&blob_config).map_err(|e| e.to_string())?;
            let storage = args.open().await?;
            let pruned = jmet::evidence::upload::prune(
                &storage,
                &blobs,
                older_than_days.max(1) * 86_400_000,
                jmet::sync::now_ms() as i64,
            )
            .await
            .map_err(|e| e.to_string())?;
            println!("{}", serde_json::json!({"pruned_uploads": pruned}));
            Ok(())
        }
        Command::Flags(FlagsCommand::Rebuild(storage)) => {
            let storage = storage.open().await?;
            let started = std::time::Instant::now();
            let visits = jmet::evidence::flags::rebuild(&storage, jmet::sync::now_ms() as i64)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::json!({"visits": visits, "seconds": started.elapsed().as_secs_f64()})
            );
            Ok(())
        }
        Command::Rebuild(storage) => {
            let storage = storage.open().await?;
            let started = std::time::Instant::now();
            let run = jmet::series::project::rebuild_all(&storage)
                .await
                .map_err(|e| e.to_string())?;
            let visits = jmet::evidence::flags::rebuild(&storage, jmet::sync::now_ms() as i64)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::json!({
                    "submissions": run.submissions,
                    "indicator_values": run.values,
                    "flagged_visits_checked": visits,
                    "seconds": started.elapsed().as_secs_f64(),
                })
            );
            Ok(())
        }
        Command::GpsThresholds(ThresholdsCommand::Show(storage)) => {
            let storage = storage.open().await?;
            let all = storage.all_thresholds().await.map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::GpsThresholds(ThresholdsCommand::Set {
            storage,
            kind,
            max_distance_m,
            max_accuracy_m,
            max_photo_distance_m,
            max_photo_age_s,
        }) => {
            if kind != "*" && !jmet::facility::KINDS.contains(&kind.as_str()) {
                return Err(format!(
                    "no facility kind {kind:?}: one of {} or *",
                    jmet::facility::KINDS.join(", ")
                ));
            }
            let storage = storage.open().await?;
            let t = jmet::evidence::gps::Thresholds {
                max_distance_m,
                max_accuracy_m,
                max_photo_distance_m,
                max_photo_age_s,
            };
            let now = jmet::sync::now_ms() as i64;
            storage
                .set_thresholds(&kind, &t, CLI, now)
                .await
                .map_err(|e| e.to_string())?;
            let visits = jmet::evidence::flags::rebuild(&storage, now)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::json!({"facility_kind": kind, "visits_rechecked": visits})
            );
            Ok(())
        }
        Command::Form(FormCommand::Close {
            storage,
            form,
            version,
        }) => {
            let storage = storage.open().await?;
            let def = stored_form(&storage, &form, version).await?;
            let closed = storage
                .close_form(&def.id, version, CLI, jmet::sync::now_ms() as i64)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::json!({"form": form, "version": version, "closed": closed})
            );
            Ok(())
        }
        Command::Form(FormCommand::Xform {
            storage,
            form,
            version,
        }) => {
            let storage = storage.open().await?;
            let def = stored_form(&storage, &form, version).await?;
            let has_list = jmet::openrosa::xform::list_file(&def).is_some();
            println!("{}", jmet::openrosa::xform::xform(&def, has_list));
            Ok(())
        }
        Command::Form(FormCommand::List(storage)) => {
            let storage = storage.open().await?;
            let forms = storage.forms().await.map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&forms).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::User(UserCommand::List(storage)) => {
            let storage = storage.open().await?;
            let users = storage.users().await.map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&users).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::Plan(PlanCommand::Show {
            storage,
            municipality,
        }) => {
            let municipality = Scope::parse(municipality).map_err(|e| e.to_string())?;
            let storage = storage.open().await?;
            let plan = storage
                .plan(&municipality)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string(&plan).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::Facility(FacilityCommand::List(storage)) => {
            let storage = storage.open().await?;
            let all = storage.facilities().await.map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string(&all).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::Territory(TerritoryCommand::List(storage)) => {
            let storage = storage.open().await?;
            let all = storage.territories().await.map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string(&all).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::Audit(AuditCommand::Verify(storage)) => {
            let storage = storage.open().await?;
            match storage.verify_audit().await.map_err(|e| e.to_string())? {
                jmet::storage::AuditReport::Intact {
                    entries,
                    ops,
                    records,
                } => {
                    let report = serde_json::json!({
                        "status": "intact", "entries": entries, "ops": ops, "records": records,
                    });
                    println!("{report}");
                    Ok(())
                }
                jmet::storage::AuditReport::Broken { at, problem } => {
                    let report =
                        serde_json::json!({"status": "broken", "at": at, "problem": problem});
                    println!("{report}");
                    Err(format!("audit chain broken: {at} {problem}"))
                }
            }
        }
        Command::Device(DeviceCommand::Create {
            storage,
            scopes,
            member,
            label,
        }) => {
            let scopes = scopes
                .into_iter()
                .map(Scope::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            let storage = storage.open().await?;
            let now = jmet::sync::now_ms() as i64;
            let device = match member {
                Some(member) => {
                    storage
                        .create_member_device(member, label.as_deref(), CLI, now)
                        .await
                }
                None => {
                    storage
                        .create_device(&scopes, label.as_deref(), CLI, now)
                        .await
                }
            }
            .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string(&device).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::Device(DeviceCommand::Revoke { storage, device_id }) => {
            let device_id: DeviceId = device_id
                .parse()
                .map_err(|_| format!("{device_id:?} is not a device id"))?;
            let storage = storage.open().await?;
            storage
                .revoke_device(device_id, CLI, jmet::sync::now_ms() as i64)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("device {device_id} revoked");
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let storage = args.storage.open().await?;
    if args.demo {
        if jmet::demo::is_loaded(&storage)
            .await
            .map_err(|e| e.to_string())?
        {
            tracing::info!("demo data already loaded");
        } else {
            let started = std::time::Instant::now();
            let summary = jmet::demo::load(&storage, jmet::sync::now_ms() as i64)
                .await
                .map_err(|e| format!("loading the demo data: {e}"))?;
            tracing::info!(
                ?summary,
                seconds = started.elapsed().as_secs_f64(),
                "demo data loaded"
            );
        }
    }
    // A server that stopped between a push's commit and its projection left work behind.
    let projecting = storage.clone();
    tokio::spawn(async move {
        match jmet::series::project::catch_up_all(&projecting).await {
            Ok(run) if run.submissions > 0 => {
                tracing::info!(?run, "indicator projection caught up")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "indicator projection could not catch up"),
        }
    });
    // The open panel publishes the audit chain's head once a day.
    tokio::spawn(jmet::open::heads::publish_daily(storage.clone()));
    let settings = Settings {
        body_limit: args.body_limit,
        max_clock_skew_ms: args.max_clock_skew_secs.saturating_mul(1000),
        push_concurrency: args.push_concurrency,
        secure_cookies: !args.insecure_cookies,
        public_url: args.public_url.clone(),
        ..Settings::default()
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%address, backend = ?storage.backend(), "jmet listening");
    let blob_config = jmet::blobs::BlobConfig::from_env_or_local(&args.storage.data_dir)?;
    let blobs = jmet::blobs::BlobStore::open(&blob_config).map_err(|e| e.to_string())?;
    tracing::info!(blobs = %blobs.describe(), "photo storage");
    let app = jmet::build_app(storage.clone(), blobs, settings);
    jmet::serve::serve(listener, app, jmet::serve::shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    storage.close().await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Reads and checks an import file; the error names the file and the place in it.
fn read_for_import<T>(
    file: &std::path::Path,
    parse: fn(&str) -> Result<T, jmet::territory::ImportError>,
) -> Result<(String, T), String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let parsed =
        parse(&text).map_err(|e| format!("{}: {e}; nothing was imported", file.display()))?;
    Ok((text, parsed))
}

/// A stored form version, or why there is none.
async fn stored_form(
    storage: &jmet::Storage,
    form: &str,
    version: u32,
) -> Result<sync_protocol::FormDef, String> {
    let id = sync_protocol::FormId::parse(form).map_err(|e| e.to_string())?;
    storage
        .form(&id, version)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("there is no form {form} version {version}"))
}
