//! Environment variables that hold static cloud credentials (guide §8): the names cloud SDKs
//! read an access key, a secret or a token from.

pub const CREDENTIAL_ENV: [&str; 15] = [
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
    "OSS_ACCESS_KEY_ID",
    "OSS_ACCESS_KEY_SECRET",
    "OSS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "ALICLOUD_ACCESS_KEY",
    "ALICLOUD_SECRET_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_CLIENT_SECRET",
];

/// Whether an env var name is a static cloud credential (cheap first-letter test first: most
/// containers have none).
pub fn is_credential(name: &str) -> bool {
    matches!(name.as_bytes().first(), Some(b'A' | b'O' | b'G')) && CREDENTIAL_ENV.contains(&name)
}
