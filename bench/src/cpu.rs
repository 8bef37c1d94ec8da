//! CPU time by process, from /proc: where a run's work went on the shared
//! cores.

use anyhow::Context;

/// User plus system CPU seconds of `pid` ("self" for this process) so far,
/// or, with `children`, of its children it has waited for (wrk, here).
pub fn seconds(pid: &str, children: bool) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces: the fields start after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("/proc stat")?
        .1
        .split_whitespace()
        .collect();
    let (user, system) = if children { (13, 14) } else { (11, 12) };
    let ticks: f64 = fields
        .get(user)
        .zip(fields.get(system))
        .and_then(|(u, s)| Some(u.parse::<f64>().ok()? + s.parse::<f64>().ok()?))
        .context("/proc stat times")?;
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks / per_second)
}

/// The database server's pid, if it runs on this machine.
pub fn database_pid() -> Option<String> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            matches!(comm.trim(), "mariadbd" | "mysqld").then_some(name)
        })
}

/// CPU seconds per process over one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Split {
    pub server: f64,
    /// The fan-out function, which makes every Management API post.
    pub fanout: f64,
    pub gateway_and_listeners: f64,
    pub load_generator: f64,
    pub database: f64,
}

impl Split {
    /// Every process's seconds together.
    pub fn total(&self) -> f64 {
        self.server + self.fanout + self.gateway_and_listeners + self.load_generator + self.database
    }
}

impl std::ops::AddAssign for Split {
    fn add_assign(&mut self, other: Split) {
        self.server += other.server;
        self.fanout += other.fanout;
        self.gateway_and_listeners += other.gateway_and_listeners;
        self.load_generator += other.load_generator;
        self.database += other.database;
    }
}

/// A reading to subtract from a later one.
pub struct Reading {
    server_pid: String,
    fanout_pid: String,
    database_pid: Option<String>,
    at: Split,
}

impl Reading {
    pub fn take(server_pid: u32, fanout_pid: u32) -> anyhow::Result<Self> {
        let (server_pid, fanout_pid) = (server_pid.to_string(), fanout_pid.to_string());
        let database_pid = database_pid();
        let at = Split {
            server: seconds(&server_pid, false)?,
            fanout: seconds(&fanout_pid, false)?,
            gateway_and_listeners: seconds("self", false)?,
            load_generator: seconds("self", true)?,
            database: match &database_pid {
                Some(pid) => seconds(pid, false)?,
                None => 0.0,
            },
        };
        Ok(Reading {
            server_pid,
            fanout_pid,
            database_pid,
            at,
        })
    }

    pub fn since(&self) -> anyhow::Result<Split> {
        let now = Reading::take(self.server_pid.parse()?, self.fanout_pid.parse()?)?;
        let database = match (&self.database_pid, &now.database_pid) {
            (Some(a), Some(b)) if a == b => now.at.database - self.at.database,
            _ => 0.0,
        };
        Ok(Split {
            server: now.at.server - self.at.server,
            fanout: now.at.fanout - self.at.fanout,
            gateway_and_listeners: now.at.gateway_and_listeners - self.at.gateway_and_listeners,
            load_generator: now.at.load_generator - self.at.load_generator,
            database,
        })
    }
}
