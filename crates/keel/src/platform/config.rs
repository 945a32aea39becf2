//! Configuration, layered: command-line flags override `KEEL_*` environment variables (both via
//! clap), which override `keel.toml`, which overrides the defaults here.

use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://keel.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// What `keel.toml` may hold. Unknown keys are an error, so a typo is not silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub attachments_dir: Option<PathBuf>,
    pub max_attachment_mb: Option<usize>,
    pub auto_close_days: Option<i64>,
    pub secure_cookies: Option<bool>,
    pub mail: Option<MailConfig>,
    pub ldap: Option<LdapConfig>,
    pub oidc: Option<OidcConfig>,
    pub audit: Option<AuditConfig>,
}

/// `[audit]`: anchors of the audit trail's head kept outside the database.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// An append-only file the `audit.anchor` job adds the head to (a write-once mount, a file
    /// another system collects); `keel audit verify --anchors FILE` checks the chain against it.
    pub anchor_file: Option<PathBuf>,
    /// How often the job takes an anchor (default 60 minutes).
    pub anchor_every_minutes: Option<i64>,
}

/// `[oidc]`: sign-in through an OpenID Connect provider (authorization code flow with PKCE).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL (its discovery document is `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    /// For confidential clients (sent with HTTP Basic); PKCE is used either way.
    pub client_secret: Option<String>,
    /// Keel's callback as registered at the provider, e.g. `https://desk.example.com/auth/oidc/callback`.
    pub redirect_url: String,
    /// The sign-in button's text (default "Sign in with single sign-on").
    pub label: Option<String>,
    /// Default `openid email profile`.
    pub scopes: Option<String>,
    /// Create a requester account for a signed-in person Keel does not know (default false:
    /// accounts come from the directory or an administrator).
    #[serde(default)]
    pub create_users: bool,
}

/// `[ldap]`: users and support groups synchronised from a directory (`keel directory-sync`, the
/// `directory.sync` job, `POST /api/v1/directory/sync`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// A PEM file of a CA to trust besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
    pub bind_dn: String,
    pub bind_password: String,
    pub user_base: String,
    /// Default `(objectClass=inetOrgPerson)`.
    pub user_filter: Option<String>,
    /// The attribute holding the e-mail address (default `mail`) and the name (default `cn`).
    pub email_attribute: Option<String>,
    pub name_attribute: Option<String>,
    pub group_base: String,
    /// Default `(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))`.
    pub group_filter: Option<String>,
    /// LDAP group name → Keel role; a user in several gets the most privileged.
    #[serde(default)]
    pub roles: std::collections::BTreeMap<String, String>,
    /// The role of users in none of those groups (default `requester`).
    pub default_role: Option<String>,
    /// LDAP groups mirrored as support groups (names); default: every group not used for roles.
    pub support_groups: Option<Vec<String>>,
    /// Minutes between synchronisations (default 60).
    pub interval_minutes: Option<i64>,
}

/// `[mail]`: Keel's own addresses and the queues mail arrives in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// Keel's own addresses: mail from them is a loop and is ignored.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Messages larger than this are kept in the quarantine instead of processed (default 50).
    pub max_message_mb: Option<usize>,
    /// `[[mail.queues]]`; without any, `incidents` and `requests` exist.
    #[serde(default)]
    pub queues: Vec<MailQueue>,
    /// `[mail.smtp]`: where notifications are sent; without it no mail goes out.
    pub smtp: Option<SmtpConfig>,
    /// The language of mail to people who have not chosen one (`en` or `de`; default `en`).
    pub language: Option<String>,
    /// The address people reach Keel's pages at, for links in mail (e.g. https://desk.example.com).
    pub base_url: Option<String>,
    /// A directory whose `{language}/{event}.txt` files replace the built-in mail templates.
    pub templates_dir: Option<std::path::PathBuf>,
}

/// How to reach the SMTP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Default: 465 for `tls`, 587 for `starttls`, 25 for `none`.
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (implicit TLS, "SMTPS") or `none` (a trusted local relay only).
    #[serde(default = "starttls")]
    pub tls: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// A PEM file of a CA to trust besides the system's (an internal relay's own CA).
    pub ca_file: Option<std::path::PathBuf>,
    /// The From address, e.g. `Service Desk <desk@example.com>`.
    pub from: String,
    /// Seconds to wait for the server (default 30).
    pub timeout_secs: Option<u64>,
}

fn starttls() -> String {
    "starttls".into()
}

/// A queue: where a mailbox's (or an MTA pipe's) new messages become work items.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailQueue {
    pub name: String,
    /// `incident` or `request`.
    #[serde(default = "incident")]
    pub kind: String,
    /// Support group new items are assigned to (by name).
    pub group: Option<String>,
    /// Service new items are recorded against (by name).
    pub service: Option<String>,
    /// `[mail.queues.imap]`: a mailbox Keel reads this queue's mail from.
    pub imap: Option<ImapConfig>,
}

/// A mailbox read over IMAP: new messages are taken (and flagged `\Seen`) as they arrive, with
/// IDLE where the server offers it, else by polling.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    pub host: String,
    /// Default: 993 for `tls`, 143 otherwise.
    pub port: Option<u16>,
    /// `tls` (default, implicit TLS), `starttls` or `none` (loopback only).
    #[serde(default = "tls")]
    pub tls: String,
    pub username: String,
    pub password: String,
    /// Default `INBOX`.
    pub mailbox: Option<String>,
    /// A PEM file of a CA to trust besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// Use IDLE when the server offers it (default true).
    pub idle: Option<bool>,
    /// Seconds between polls without IDLE (default 60).
    pub poll_seconds: Option<u64>,
}

fn tls() -> String {
    "tls".into()
}

fn incident() -> String {
    "incident".into()
}

impl MailConfig {
    /// The configured queues, or the two defaults.
    pub fn queues(&self) -> Vec<MailQueue> {
        if !self.queues.is_empty() {
            return self.queues.clone();
        }
        ["incident", "request"]
            .iter()
            .map(|k| MailQueue {
                name: format!("{k}s"),
                kind: (*k).into(),
                group: None,
                service: None,
                imap: None,
            })
            .collect()
    }

    pub fn max_message_bytes(&self) -> usize {
        self.max_message_mb.unwrap_or(50) * 1024 * 1024
    }
}

impl FileConfig {
    pub fn load(path: &Path, required: bool) -> anyhow::Result<FileConfig> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(FileConfig::default())
            }
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
    }
}

/// The settings the running server uses.
#[derive(Debug, Clone)]
pub struct Config {
    pub attachments_dir: Option<PathBuf>,
    pub max_attachment_bytes: usize,
    /// Resolved incidents close automatically after this many days without a reopen.
    pub auto_close_days: i64,
    /// Mark cookies `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
    pub mail: MailConfig,
    pub ldap: Option<LdapConfig>,
    pub oidc: Option<OidcConfig>,
    pub audit: AuditConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            attachments_dir: None,
            max_attachment_bytes: 10 * 1024 * 1024,
            auto_close_days: 5,
            secure_cookies: false,
            mail: MailConfig::default(),
            ldap: None,
            oidc: None,
            audit: AuditConfig::default(),
        }
    }
}
