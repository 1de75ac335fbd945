//! `coordinator nats-users`: new passwords for the two users the shipped
//! NATS configs know (`coordinator`, `worker`; see deploy/nats/users.conf),
//! written as three files with owner-only permissions:
//!
//! - `server.env`: the bcrypt hashes nats-server reads from its environment;
//! - `coordinator.env`, `worker.env`: `NATS_USER` and `NATS_PASSWORD` for each side.
//!
//! The plain passwords exist only in the two client files.

use anyhow::Context;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// bcrypt cost: ~50 ms per check on a laptop, paid once per connection.
const BCRYPT_COST: u32 = 11;

/// The environment variables deploy/nats/users.conf reads the hashes from.
pub const HASH_VARIABLES: [(&str, &str); 2] =
    [("coordinator", "PODMINE_COORDINATOR_PASSWORD_HASH"), ("worker", "PODMINE_WORKER_PASSWORD_HASH")];

/// The files written, for the command's summary.
pub struct Written {
    pub server_env: PathBuf,
    pub client_envs: Vec<PathBuf>,
}

/// Writes the three files into `dir`; refuses to replace existing ones unless
/// `replace` (new passwords lock out every worker still using the old ones).
pub fn write(dir: &Path, replace: bool) -> anyhow::Result<Written> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let server_env = dir.join("server.env");
    if server_env.exists() && !replace {
        anyhow::bail!(
            "{} already exists: new passwords would lock out every worker using the old ones. \
             Pass --replace to make new ones anyway",
            server_env.display()
        );
    }
    let mut server_lines = String::from("# nats-server's environment: bcrypt hashes for deploy/nats/users.conf\n");
    let mut client_envs = Vec::new();
    for (user, variable) in HASH_VARIABLES {
        let password = random_password()?;
        let hash = bcrypt::hash(&password, BCRYPT_COST).context("bcrypt")?;
        // nats-server parses a variable's value as config: quoted, the `$`s of
        // the hash stay text instead of becoming variable references.
        server_lines.push_str(&format!("{variable}='\"{hash}\"'\n"));
        let client_env = dir.join(format!("{user}.env"));
        write_private(&client_env, &format!("NATS_USER={user}\nNATS_PASSWORD={password}\n"))?;
        client_envs.push(client_env);
    }
    write_private(&server_env, &server_lines)?;
    Ok(Written { server_env, client_envs })
}

/// 32 random characters from [0-9a-f]: 128 bits, safe in URLs, plists and shells.
fn random_password() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("cannot read /dev/urandom")?;
    Ok(protocol::ids::hex(&bytes))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_hashes_that_verify_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("temp dir");
        let written = write(dir.path(), false).expect("write");
        let server = std::fs::read_to_string(&written.server_env).expect("server.env");
        let worker = std::fs::read_to_string(dir.path().join("worker.env")).expect("worker.env");
        let password = worker.lines().find_map(|l| l.strip_prefix("NATS_PASSWORD=")).expect("password line");
        let hash_line =
            server.lines().find(|l| l.starts_with("PODMINE_WORKER_PASSWORD_HASH=")).expect("worker hash line");
        let hash = hash_line.split('"').nth(1).expect("quoted hash");
        assert!(bcrypt::verify(password, hash).expect("valid bcrypt"));
        assert!(!server.contains(password), "the server file must not hold a plain password");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("worker.env")).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = write(dir.path(), false).err().expect("second write refused");
        assert!(again.to_string().contains("--replace"), "{again}");
    }
}
