//! A real PostgreSQL server for the tests: `initdb` + `pg_ctl` in a temporary
//! directory on a free loopback port (as the `postgres` user when the tests run
//! as root, since the server refuses to run as root). `.ci/run` and
//! `scripts/setup.sh` install Debian's `postgresql` when missing; without it
//! these tests fail (they are never skipped).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// A running cluster, stopped on drop.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

fn bin_dir() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    candidates.sort();
    candidates
        .into_iter()
        .rev()
        .find(|p| p.join("initdb").is_file())
        .or_else(|| {
            let out = Command::new("sh").args(["-c", "command -v initdb"]).output().ok()?;
            let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            p.parent().map(Path::to_path_buf).filter(|d| d.join("pg_ctl").is_file())
        })
        .expect(
            "PostgreSQL server binaries (initdb, pg_ctl) are installed: apt-get install postgresql (scripts/setup.sh)",
        )
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl PgCluster {
    fn run(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let exe = self.bin.join(tool);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).current_dir(self.dir.path()).output().unwrap_or_else(|e| panic!("{tool} runs: {e}"))
    }

    /// initdb, then start on a free port; the superuser is `cdssd`, trust authentication on loopback.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("cdssd-pg-").tempdir().unwrap();
        if is_root() {
            let uid: u32 = String::from_utf8(Command::new("id").args(["-u", "postgres"]).output().unwrap().stdout)
                .unwrap()
                .trim()
                .parse()
                .expect("a `postgres` system user exists (Debian's postgresql package creates it)");
            let c = std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: chown(2) of a directory we just created.
            assert_eq!(unsafe { libc::chown(c.as_ptr(), uid, u32::MAX) }, 0, "chown of the cluster directory");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let c = Self { dir, bin: bin_dir(), port };
        let data = c.dir.path().join("data");
        let out =
            c.run("initdb", &["-D", data.to_str().unwrap(), "-U", "cdssd", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        c.pg_ctl_start();
        c
    }

    fn pg_ctl_start(&self) {
        let data = self.dir.path().join("data");
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=50",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let out = self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-o", &opts, "-l", log.to_str().unwrap(), "-w", "-t", "60", "start"],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stop the server now (fast shutdown: connections are closed).
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        let _ = self.run("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"]);
    }

    /// Start it again after [`stop`](Self::stop), on the same port.
    pub fn restart(&self) {
        self.pg_ctl_start();
    }

    /// A connection string for the `postgres` database.
    pub fn url(&self) -> String {
        format!("host=127.0.0.1 port={} user=cdssd dbname=postgres", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}
