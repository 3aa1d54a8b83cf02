//! The relay's credentials, from the environment, never from the config file or the command
//! line, and never printed.

use anyhow::{Result, bail};

/// SMTP credentials, from `TSUCHI_SMTP_USER` and `TSUCHI_SMTP_PASSWORD` or
/// `TSUCHI_SMTP_PASSWORD_FILE`. `Debug` never shows the password.
#[derive(Clone)]
pub struct Secret {
    pub(super) user: String,
    pub(super) password: String,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret {{ user: {:?}, password: <hidden> }}", self.user)
    }
}

impl Secret {
    /// Reads credentials from the environment; `None` when no user is set.
    pub fn from_env() -> Result<Option<Secret>> {
        let Ok(user) = std::env::var("TSUCHI_SMTP_USER") else {
            return Ok(None);
        };
        let password = match (
            std::env::var("TSUCHI_SMTP_PASSWORD"),
            std::env::var("TSUCHI_SMTP_PASSWORD_FILE"),
        ) {
            (Ok(p), _) => p,
            (Err(_), Ok(file)) => std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read TSUCHI_SMTP_PASSWORD_FILE {file}: {e}"))?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
            _ => bail!(
                "TSUCHI_SMTP_USER is set but neither TSUCHI_SMTP_PASSWORD nor TSUCHI_SMTP_PASSWORD_FILE is"
            ),
        };
        Ok(Some(Secret { user, password }))
    }
}
