//! The convergence property, over HTTP against the real server: replicas edit shared records
//! offline (concurrent edits of one field, deletes racing edits, undeletes), push with lost
//! answers and retries, pull in small pages, all at once; one phone's clock runs a year ahead and
//! one a day behind. After draining, every replica and the server hold the same state.
//!
//! Cases per backend: `JMET_HTTP_PROPTEST_CASES` (default 48); each case uses a new scope on one
//! running server.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use sync_protocol::{Collection, FieldName, RecordId, Replica, Scope, Store};

use crate::harness::{Backend, TestDevice, TestServer, now_ms, postgres_available};

const REPLICAS: usize = 3;
const RECORDS: usize = 4;
const FIELDS: [&str; 3] = ["status", "gps", "note"];
const DAY_MS: i64 = 24 * 3600 * 1000;
/// Wall-clock error of each replica: exact, a year ahead, a day behind.
const CLOCK_ERROR_MS: [i64; REPLICAS] = [0, 365 * DAY_MS, -DAY_MS];

#[derive(Debug, Clone)]
enum Action {
    Set {
        record: usize,
        field: usize,
        value: i64,
    },
    SetGps {
        record: usize,
        lat: i32,
    },
    Delete {
        record: usize,
    },
    Undelete {
        record: usize,
    },
    Push {
        max_ops: usize,
        lose_answer: bool,
    },
    Pull {
        limit: usize,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..RECORDS, 0..FIELDS.len(), 0..5i64).prop_map(|(record, field, value)| Action::Set { record, field, value }),
        1 => (0..RECORDS, -90..90i32).prop_map(|(record, lat)| Action::SetGps { record, lat }),
        1 => (0..RECORDS).prop_map(|record| Action::Delete { record }),
        1 => (0..RECORDS).prop_map(|record| Action::Undelete { record }),
        3 => (1..6usize, prop::bool::weighted(0.25)).prop_map(|(max_ops, lose_answer)| Action::Push { max_ops, lose_answer }),
        2 => (1..4usize).prop_map(|limit| Action::Pull { limit }),
    ]
}

fn schedules() -> impl Strategy<Value = Vec<Vec<Action>>> {
    prop::collection::vec(prop::collection::vec(action(), 0..40), REPLICAS)
}

#[test]
fn replicas_converge_over_http_on_sqlite() {
    run(Backend::Sqlite);
}

#[test]
fn replicas_converge_over_http_on_postgres() {
    let rt = runtime();
    if rt.block_on(postgres_available()) {
        drop(rt);
        run(Backend::Postgres);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

fn run(backend: Backend) {
    let rt = runtime();
    let server = rt.block_on(TestServer::start(backend));
    let cases = std::env::var("JMET_HTTP_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&schedules(), |schedules| {
        rt.block_on(case(&server, schedules));
        Ok(())
    });
    rt.block_on(server.stop());
    if let Err(e) = result {
        panic!("{e}");
    }
}

struct Phone {
    replica: Replica,
    device: TestDevice,
    clock_error_ms: i64,
    scope: Scope,
}

impl Phone {
    fn wall(&self) -> u64 {
        now_ms().saturating_add_signed(self.clock_error_ms)
    }

    async fn act(&mut self, action: &Action, records: &[RecordId]) {
        let visits = Collection::parse("comments").unwrap();
        let wall = self.wall();
        let scope = self.scope.clone();
        let fields = |name: &str, value: Value| -> BTreeMap<FieldName, Value> {
            [(FieldName::parse(name).unwrap(), value)].into()
        };
        match *action {
            Action::Set {
                record,
                field,
                value,
            } => {
                self.replica
                    .set(
                        wall,
                        visits,
                        records[record],
                        scope,
                        fields(FIELDS[field], json!(value)),
                    )
                    .unwrap();
            }
            Action::SetGps { record, lat } => {
                let gps = json!({"lat": lat as f64 / 2.0, "lon": 74.6, "acc": 5.0});
                self.replica
                    .set(wall, visits, records[record], scope, fields("gps", gps))
                    .unwrap();
            }
            Action::Delete { record } => {
                self.replica
                    .delete(wall, visits, records[record], scope)
                    .unwrap();
            }
            Action::Undelete { record } => {
                self.replica
                    .undelete(wall, visits, records[record], scope)
                    .unwrap();
            }
            Action::Push {
                max_ops,
                lose_answer,
            } => {
                if let Some(request) = self.replica.push_request(max_ops) {
                    let answer = self.device.push(&request).await;
                    // A lost answer: the phone never learns the outcome and sends the batch again.
                    if !lose_answer {
                        self.replica
                            .handle_push_response(self.wall(), &request, &answer)
                            .unwrap();
                    }
                }
            }
            Action::Pull { limit } => {
                self.pull_page(limit).await;
            }
        }
    }

    async fn pull_page(&mut self, limit: usize) -> bool {
        let page = self
            .device
            .pull(self.replica.pull_cursor(), Some(limit))
            .await;
        self.replica.apply_pull(self.wall(), &page).unwrap();
        page.more
    }

    async fn drain(&mut self) {
        while let Some(request) = self.replica.push_request(100) {
            let answer = self.device.push(&request).await;
            self.replica
                .handle_push_response(self.wall(), &request, &answer)
                .unwrap();
        }
        while self.pull_page(50).await {}
    }
}

async fn case(server: &TestServer, schedules: Vec<Vec<Action>>) {
    // Records of a new scope are new records: a record's scope is fixed for life.
    let records: Vec<RecordId> = (0..RECORDS).map(|_| RecordId::generate()).collect();
    let scope_name = format!("c{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let scope = Scope::parse(scope_name.as_str()).unwrap();
    let mut phones = Vec::new();
    for error in CLOCK_ERROR_MS {
        let device = server.device(&[&scope_name]).await;
        phones.push(Phone {
            replica: Replica::new(device.device_id),
            device,
            clock_error_ms: error,
            scope: scope.clone(),
        });
    }

    // All phones at once: the server sees their requests in whatever order they land.
    let tasks: Vec<_> = phones
        .into_iter()
        .zip(schedules)
        .map(|(mut phone, actions)| {
            let records = records.clone();
            tokio::spawn(async move {
                for action in &actions {
                    phone.act(action, &records).await;
                }
                phone
            })
        })
        .collect();
    let mut phones = Vec::new();
    for task in tasks {
        phones.push(task.await.expect("phone task"));
    }

    // Drain until nothing is pending anywhere (re-stamped or re-queued ops need extra rounds).
    for _ in 0..6 {
        for phone in &mut phones {
            phone.drain().await;
        }
        if phones.iter().all(|p| p.replica.pending_len() == 0) {
            break;
        }
    }
    for phone in &mut phones {
        phone.drain().await;
    }

    let observer = server.device(&[&scope_name]).await;
    let mut server_state = Store::default();
    observer.pull_all(&mut server_state, None, 1000).await;
    for (i, phone) in phones.iter().enumerate() {
        assert_eq!(
            phone.replica.pending_len(),
            0,
            "phone {i} still has pending ops"
        );
        assert!(
            phone.replica.rejected().is_empty(),
            "phone {i}: {:?}",
            phone.replica.rejected()
        );
        assert_eq!(
            phone.replica.records(),
            server_state,
            "phone {i} diverged from the server"
        );
    }
    // The phone a year ahead never wrote a reading far in the future into the shared state.
    let horizon = now_ms() + 10 * 60 * 1000;
    for (_, _, state) in server_state.iter() {
        for field in state.fields.values() {
            assert!(
                field.hlc.ms() <= horizon,
                "a future reading survived: {}",
                field.hlc
            );
        }
    }
}
