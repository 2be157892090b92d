//! End-to-end tests: real servers on loopback ports over real SQLite and PostgreSQL databases,
//! driven over HTTP as phones drive them. Each storage test runs on both backends; PostgreSQL
//! tests are skipped with a printed reason when no server answers (see `harness`).

mod harness;

mod access;
mod audit;
mod bad_input;
mod blobs;
mod browser;
mod concurrency;
mod console;
mod convergence;
mod crash;
mod demo;
mod evidence;
mod forms;
mod indicators;
mod open_data;
mod openapi;
mod openrosa;
mod panel;
mod projection;
mod push_pull;
mod recommendations;
mod reset;
mod review;
mod teams;
mod territories;
mod world;
