//! The local stand-ins that both the integration tests and the benchmark
//! drive: a Lambda Runtime API emulator that runs the function binaries,
//! API Gateway's routing of the HTTP API to the three functions, a counter
//! of the SQL statements a request sends, the settings of the local
//! S3-compatible server, the local gateway's delivery queue, and the
//! application's configuration against all of them.

pub mod config;
pub mod delivery_queue;
pub mod routing;
pub mod runtime_api;
pub mod statements;
pub mod storage;
