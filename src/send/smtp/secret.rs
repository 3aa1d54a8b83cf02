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
        Secret::from_vars("")
    }

    /// The credentials of the pool's relay `name`: the variables above with `_<NAME>` after
    /// them (`TSUCHI_SMTP_USER_PRIMARY`, `TSUCHI_SMTP_PASSWORD_PRIMARY`,
    /// `TSUCHI_SMTP_PASSWORD_FILE_PRIMARY`; the name upper-cased, `-` as `_`), falling back
    /// to the unnamed ones when the relay has no user of its own.
    pub fn from_env_for(name: &str) -> Result<Option<Secret>> {
        let suffix = format!("_{}", name.to_ascii_uppercase().replace('-', "_"));
        if std::env::var_os(format!("TSUCHI_SMTP_USER{suffix}")).is_some() {
            Secret::from_vars(&suffix)
        } else {
            Secret::from_env()
        }
    }

    fn from_vars(suffix: &str) -> Result<Option<Secret>> {
        let user_var = format!("TSUCHI_SMTP_USER{suffix}");
        let password_var = format!("TSUCHI_SMTP_PASSWORD{suffix}");
        let file_var = format!("TSUCHI_SMTP_PASSWORD_FILE{suffix}");
        let Ok(user) = std::env::var(&user_var) else {
            return Ok(None);
        };
        let password = match (std::env::var(&password_var), std::env::var(&file_var)) {
            (Ok(p), _) => p,
            (Err(_), Ok(file)) => std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {file_var} {file}: {e}"))?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
            _ => bail!("{user_var} is set but neither {password_var} nor {file_var} is"),
        };
        Ok(Some(Secret { user, password }))
    }
}
