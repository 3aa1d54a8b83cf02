//! The call-centre agents allowed to use `tsuchi serve`: a name each and the SHA-256 of a
//! token, in `<state-dir>/hotline-agents.json` (owner-only, replaced atomically). The token
//! itself is printed once, when the agent is added, and stored nowhere: a copy of the state
//! directory does not let anyone sign in.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::config::sha256_hex;
use crate::util::fs::{read_state_file, write_atomic};

/// The file of agents in a state directory.
pub fn agents_path(state_dir: &Path) -> PathBuf {
    state_dir.join("hotline-agents.json")
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AgentsFile {
    agents: Vec<Agent>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Agent {
    name: String,
    /// SHA-256 (hex) of the token.
    token_sha256: String,
    added: String,
}

fn load(path: &Path) -> Result<AgentsFile> {
    match read_state_file(path)? {
        None => Ok(AgentsFile::default()),
        Some(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a file of hotline agents", path.display())),
    }
}

fn store(path: &Path, file: &AgentsFile) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(file)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes, 0o600)
}

/// A name an agent is known by in the audit log: 1–64 characters, no control characters,
/// no spaces at either end.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(char::is_control)
        || name.trim() != name
    {
        bail!(
            "agent name must be 1 to 64 characters, without control characters or surrounding spaces"
        );
    }
    Ok(())
}

/// Adds agent `name` to `state_dir` and returns its new token (to be shown once).
pub fn add_agent(state_dir: &Path, name: &str) -> Result<String> {
    check_name(name)?;
    crate::util::fs::create_private_dir(state_dir)?;
    let path = agents_path(state_dir);
    let mut file = load(&path)?;
    if file.agents.iter().any(|a| a.name == name) {
        bail!("agent {name} exists already; remove it first (--remove-agent) to issue a new token");
    }
    let token = format!("tsh_{}", hex::encode(rand::random::<[u8; 32]>()));
    file.agents.push(Agent {
        name: name.to_string(),
        token_sha256: sha256_hex(token.as_bytes()),
        added: crate::util::time::now_rfc3339(),
    });
    store(&path, &file)?;
    Ok(token)
}

/// Removes agent `name`; its token stops working at once, its open sessions with it.
pub fn remove_agent(state_dir: &Path, name: &str) -> Result<()> {
    let path = agents_path(state_dir);
    let mut file = load(&path)?;
    let before = file.agents.len();
    file.agents.retain(|a| a.name != name);
    if file.agents.len() == before {
        bail!("no agent named {name} in {}", path.display());
    }
    store(&path, &file)
}

/// The agent whose token is `token`, if any. The file is read at every call, so that an agent
/// removed while the service runs is refused from the next request on.
pub fn agent_of_token(state_dir: &Path, token: &str) -> Result<Option<String>> {
    let hash = sha256_hex(token.as_bytes());
    Ok(load(&agents_path(state_dir))?
        .agents
        .into_iter()
        .find(|a| a.token_sha256 == hash)
        .map(|a| a.name))
}

/// The agent whose token is `token` and the token's hash (what a session is bound to).
pub fn sign_in(state_dir: &Path, token: &str) -> Result<Option<(String, String)>> {
    let hash = sha256_hex(token.as_bytes());
    Ok(agent_of_token(state_dir, token)?.map(|name| (name, hash)))
}

/// Whether agent `name` is still allowed with the token hashed `token_sha256`: not removed,
/// and not removed and added again with a new token since the session began.
pub fn still_allowed(state_dir: &Path, name: &str, token_sha256: &str) -> Result<bool> {
    Ok(load(&agents_path(state_dir))?
        .agents
        .iter()
        .any(|a| a.name == name && a.token_sha256 == token_sha256))
}

/// How many agents there are.
pub fn agent_count(state_dir: &Path) -> Result<usize> {
    Ok(load(&agents_path(state_dir))?.agents.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hash_is_stored_and_a_removed_agent_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let token = add_agent(dir.path(), "suzuki").unwrap();
        let stored = std::fs::read_to_string(agents_path(dir.path())).unwrap();
        assert!(!stored.contains(&token), "{stored}");
        assert_eq!(
            agent_of_token(dir.path(), &token).unwrap().as_deref(),
            Some("suzuki")
        );
        assert_eq!(agent_of_token(dir.path(), "tsh_wrong").unwrap(), None);
        assert!(add_agent(dir.path(), "suzuki").is_err());
        remove_agent(dir.path(), "suzuki").unwrap();
        assert_eq!(agent_of_token(dir.path(), &token).unwrap(), None);
        assert!(remove_agent(dir.path(), "suzuki").is_err());
    }
}
