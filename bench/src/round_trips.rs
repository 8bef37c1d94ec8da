//! Round trips per request, counted on the wire: a proxy between the handlers
//! and MariaDB counts the commands clients send (queries, prepared-statement
//! executions, pings, BEGIN and COMMIT), each of which waits for an answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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
