//! Round trips per request, counted on the wire: a proxy between the handlers
//! and MariaDB counts the commands clients send (queries, prepared-statement
//! executions, pings, BEGIN and COMMIT), each of which waits for an answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use harness::routing::Gateway;
use shared::{AppState, db};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::database::{self, DATABASE};
use crate::in_process;
use crate::load::Request;
use crate::settings;

/// Round trips to the database per request of each of `requests`, counted
/// by the proxy: after three warm-up requests (statements prepared), one
/// request, on a one-connection production pool as one Lambda instance has.
pub async fn per_request(requests: &[Request]) -> anyhow::Result<Vec<u64>> {
    let server = database::server_url();
    let hostport = server
        .rsplit('@')
        .next()
        .context("BENCH_DATABASE_SERVER host")?
        .trim_end_matches('/');
    let upstream = tokio::net::lookup_host(hostport)
        .await?
        .next()
        .context("database address")?;
    let proxy = CountingProxy::start(upstream).await?;
    let mut config = settings::config(1);
    config.database.url = format!(
        "{}@{}/{DATABASE}",
        server
            .rsplit_once('@')
            .map_or("mysql://root", |(user, _)| user),
        proxy.addr
    );
    let state = AppState::new(config.clone(), db::pool(&config.database)?);
    let gateway = Gateway::new();
    let mut counts = Vec::new();
    for request in requests {
        for _ in 0..3 {
            in_process::call(&gateway, &state, request).await;
        }
        // The pool pings a connection as it takes it back, after the answer:
        // let that land inside the window it belongs to.
        let settle = Duration::from_millis(100);
        tokio::time::sleep(settle).await;
        let before = proxy.commands();
        in_process::call(&gateway, &state, request).await;
        tokio::time::sleep(settle).await;
        counts.push(proxy.commands() - before);
    }
    Ok(counts)
}

/// Commands that get no answer, so cost no round trip.
const COM_QUIT: u8 = 0x01;
const COM_STMT_CLOSE: u8 = 0x19;

pub struct CountingProxy {
    pub addr: SocketAddr,
    commands: Arc<AtomicU64>,
}

impl CountingProxy {
    /// Listens on a free loopback port and forwards every connection to
    /// `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let commands = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&commands);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let _ = relay(client, server, counter).await;
                    }
                });
            }
        });
        Ok(CountingProxy { addr, commands })
    }

    pub fn commands(&self) -> u64 {
        self.commands.load(Ordering::SeqCst)
    }
}

/// Server to client as bytes; client to server packet by packet, counting
/// each packet that starts a command (sequence id 0) and expects an answer.
async fn relay(
    client: TcpStream,
    server: TcpStream,
    counter: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    tokio::spawn(async move { tokio::io::copy(&mut server_read, &mut client_write).await });
    let mut header = [0u8; 4];
    loop {
        client_read.read_exact(&mut header).await?;
        let length =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        let mut payload = vec![0u8; length];
        client_read.read_exact(&mut payload).await?;
        let sequence = header[3];
        if sequence == 0 && !matches!(payload.first(), Some(&COM_QUIT | &COM_STMT_CLOSE)) {
            counter.fetch_add(1, Ordering::SeqCst);
        }
        server_write.write_all(&header).await?;
        server_write.write_all(&payload).await?;
    }
}
